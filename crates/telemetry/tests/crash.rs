//! Kill -9 test of the reading log: a child process appends batches and prints each acknowledgement;
//! the parent SIGKILLs it at a random moment, several times over the same log, and then checks that
//! every acknowledged reading is in the log with its value.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use telemetry::log::ReadingLog;
use telemetry::Reading;

const BATCH: i64 = 500;
const METERS: u32 = 50;

fn reading(run: i64, batch: i64, i: i64) -> (String, i64, f64) {
    let meter = format!("M{}", i as u32 % METERS);
    let ts = 1_700_000_000_000 + run * 10_000_000_000 + batch * BATCH + i;
    (meter, ts, (batch * 1000 + i) as f64 + 0.25)
}

/// The child: started by `acknowledged_readings_survive_sigkill` with `DC_CRASH_DIR` set. Ignored in
/// normal runs because on its own it would write forever.
#[test]
#[ignore]
fn crash_child_writer() {
    let dir = std::env::var("DC_CRASH_DIR").expect("run by the crash test");
    let run: i64 = std::env::var("DC_CRASH_RUN").unwrap().parse().unwrap();
    let (log, _) = ReadingLog::open(Path::new(&dir), |_, _, _| {}).unwrap();
    let stdout = std::io::stdout();
    for batch in 0.. {
        let readings: Vec<Reading> = (0..BATCH)
            .map(|i| {
                let (_, ts, value) = reading(run, batch, i);
                Reading { meter: i as u32 % METERS, ts_ms: ts, value }
            })
            .collect();
        log.append(&readings, |m| format!("M{m}")).unwrap();
        let mut out = stdout.lock();
        writeln!(out, "ACK {run} {batch}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_readings_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<(i64, i64)> = Vec::new();
    let runs = 6;
    for run in 0..runs {
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "crash_child_writer", "--nocapture", "--test-threads=1"])
            .env("DC_CRASH_DIR", dir.path())
            .env("DC_CRASH_RUN", run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("ACK ") {
                    let mut p = rest.split(' ').map(|x| x.parse::<i64>().unwrap());
                    got.push((p.next().unwrap(), p.next().unwrap()));
                }
            }
            got
        });
        // Let it write for a varying while (different phase of write/sync each run), then SIGKILL.
        let wait = Duration::from_millis(150 + 97 * run as u64);
        let start = Instant::now();
        while start.elapsed() < wait {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let got = reader.join().unwrap();
        assert!(!got.is_empty(), "run {run}: the child acknowledged nothing before the kill");
        acked.extend(got);
    }
    let mut stored: HashMap<(String, i64), f64> = HashMap::new();
    let (_, recovery) = ReadingLog::open(dir.path(), |code, ts, v| {
        stored.insert((code.to_string(), ts), v);
    })
    .unwrap();
    let mut missing = 0;
    for &(run, batch) in &acked {
        for i in 0..BATCH {
            let (meter, ts, value) = reading(run, batch, i);
            if stored.get(&(meter, ts)) != Some(&value) {
                missing += 1;
            }
        }
    }
    assert_eq!(
        missing,
        0,
        "{missing} acknowledged readings lost over {runs} kills ({} batches acknowledged)",
        acked.len()
    );
    assert!(recovery.readings >= acked.len() as u64 * BATCH as u64);
    eprintln!("{} acknowledged batches over {runs} SIGKILLs, all recovered; {recovery:?}", acked.len());
}
