// The console's languages: English, 繁體中文 (Hong Kong) and 简体中文, chosen once and remembered in
// localStorage; before any choice, the browser's language decides. Element Plus's own words
// (date pickers, pagination) follow the same choice.
import { createI18n } from 'vue-i18n';
import enEP from 'element-plus/es/locale/lang/en.mjs';
import zhHkEP from 'element-plus/es/locale/lang/zh-hk.mjs';
import zhCnEP from 'element-plus/es/locale/lang/zh-cn.mjs';
import en from './en.js';
import zhHK from './zh-HK.js';
import zhCN from './zh-CN.js';

export const LOCALES = [
  { code: 'en', name: 'English', elementPlus: enEP },
  { code: 'zh-HK', name: '繁體中文', elementPlus: zhHkEP },
  { code: 'zh-CN', name: '简体中文', elementPlus: zhCnEP },
] as const;
export type Locale = typeof LOCALES[number]['code'];

export const LOCALE_STORAGE = 'loyalty.locale';

function isLocale(s: string | null): s is Locale {
  return LOCALES.some((l) => l.code === s);
}

/** The browser's language as one of ours: zh-TW, zh-HK and zh-MO read Traditional; other Chinese Simplified. */
export function browserLocale(languages: readonly string[]): Locale {
  for (const lang of languages) {
    const l = lang.toLowerCase();
    if (/^zh-(hk|tw|mo)|^zh-hant/.test(l)) return 'zh-HK';
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
  }
  return 'en';
}

function initialLocale(): Locale {
  const stored = localStorage.getItem(LOCALE_STORAGE);
  return isLocale(stored) ? stored : browserLocale(navigator.languages);
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'en',
  messages: { en, 'zh-HK': zhHK, 'zh-CN': zhCN },
  missingWarn: false,
  fallbackWarn: false,
});

export function setLocale(locale: Locale): void {
  i18n.global.locale.value = locale;
  localStorage.setItem(LOCALE_STORAGE, locale);
  document.documentElement.lang = locale;
}

document.documentElement.lang = i18n.global.locale.value;
