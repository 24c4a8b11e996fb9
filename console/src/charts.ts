// ECharts with only what the console draws: bars, lines, pies and trees on a canvas, with the grid,
// tooltip and legend. Tooltips render on the canvas too ('richText'), so the strict CSP holds: the
// default HTML tooltip writes style attributes into markup, which `style-src 'self'` refuses.
import * as echarts from 'echarts/core';
import { BarChart, LineChart, PieChart, TreeChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent, AriaComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, PieChart, TreeChart, GridComponent, LegendComponent, TooltipComponent, AriaComponent, CanvasRenderer]);

export { echarts };
export type { EChartsCoreOption } from 'echarts/core';

/** The console's series colours: Element Plus's primary, success, warning, danger and info. */
export const PALETTE = ['#409eff', '#67c23a', '#e6a23c', '#f56c6c', '#909399', '#9b59b6'];
