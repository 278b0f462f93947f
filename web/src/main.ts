import { createApp } from 'vue'
import { createRouter, createWebHistory } from 'vue-router'
import App from './App.vue'
import Login from './pages/Login.vue'
import { routes } from './pages'
import { session } from './session'
import { locale } from './i18n'
import './style.css'

const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/login', name: 'login', component: Login, meta: { public: true } },
    { path: '/', redirect: () => (session.user?.role === 'supplier' ? { name: 'supplier' } : { name: 'overview', params: { code: session.user?.org_code ?? '' } }) },
    ...routes(),
    { path: '/:rest(.*)*', redirect: '/' },
  ],
})

router.beforeEach((to) => {
  if (!to.meta.public && !session.user) return { name: 'login', query: { next: to.fullPath } }
  if (to.name === 'overview' && !to.params.code && session.user) return { name: 'overview', params: { code: session.user.org_code } }
})

document.documentElement.lang = locale.value
// The session cookie may still be valid (a reload): know the caller before the first route.
session.restore().finally(() => createApp(App).use(router).mount('#app'))
