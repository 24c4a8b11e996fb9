// The one interface the pure modules use to speak the chosen language: vue-i18n's `t` and `te`
// behind two plain functions, so the modules run (and are tested) without Vue.
export interface Words {
  t(key: string, params?: Record<string, unknown>): string;
  has(key: string): boolean;
}
