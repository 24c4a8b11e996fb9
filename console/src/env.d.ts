// Types for what Vite resolves that TypeScript alone does not: single-file components and stylesheets.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<object, object, unknown>;
  export default component;
}
declare module '*.css';
declare module 'element-plus/es/locale/lang/*.mjs' {
  import type { Language } from 'element-plus/es/locale';
  const language: Language;
  export default language;
}
