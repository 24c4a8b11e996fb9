// The admin console: Vue 3 with the Element Plus components it uses, vue-i18n, and the screens
// loaded per screen (App.vue). Everything is bundled by Vite and served by the engine itself.
import { createApp, type Plugin } from 'vue';
import {
  ElAlert, ElButton, ElCard, ElCheckbox, ElCheckboxGroup, ElCollapse, ElCollapseItem, ElConfigProvider, ElDatePicker,
  ElDescriptions, ElDescriptionsItem, ElDialog, ElDrawer, ElEmpty, ElIcon, ElInput, ElLoading, ElMenu, ElMenuItem, ElOption,
  ElProgress, ElRadio, ElRadioButton, ElRadioGroup, ElSelect, ElSwitch, ElTabPane, ElTable, ElTableColumn, ElTabs, ElTag,
} from 'element-plus';
import 'element-plus/dist/index.css';
import './style.css';
import { i18n } from './i18n/index.js';
import { resume } from './session.js';
import App from './App.vue';

const app = createApp(App);
const components: Plugin[] = [
  ElAlert, ElButton, ElCard, ElCheckbox, ElCheckboxGroup, ElCollapse, ElCollapseItem, ElConfigProvider, ElDatePicker,
  ElDescriptions, ElDescriptionsItem, ElDialog, ElDrawer, ElEmpty, ElIcon, ElInput, ElLoading, ElMenu, ElMenuItem, ElOption,
  ElProgress, ElRadio, ElRadioButton, ElRadioGroup, ElSelect, ElSwitch, ElTabPane, ElTable, ElTableColumn, ElTabs, ElTag,
];
for (const c of components) app.use(c);
app.use(i18n);
void resume().finally(() => app.mount('#app'));
