// Small helpers shared by the dashboards: every query is registered with where its series come from, so
// the test knows which queries must return data from a running scorer and which only need to parse.
import * as common from '@grafana/grafana-foundation-sdk/common';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/**
 * Where a query's series come from. `scorer`: the scorer's own /metrics (and recording rules over them) —
 * these must return data in the test against a running scorer. The others exist only on a cluster or
 * with the other services running, so there the test only checks that they parse.
 */
export type Source = 'scorer' | 'cluster' | 'kafka' | 'retrain-hook' | 'archive' | 'constant';

export interface RegisteredQuery {
  dashboard: string;
  panel: string;
  expr: string;
  source: Source;
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
export const datasource: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** The namespace filter every scorer query carries. */
export const ns = 'namespace=~"$namespace"';

export interface Target {
  expr: string;
  legend: string;
  source: Source;
}

export const target = (expr: string, legend: string, source: Source): Target => ({ expr, legend, source });

export class QueryRegistry {
  readonly queries: RegisteredQuery[] = [];
  constructor(readonly dashboard: string) {}

  private withTargets<P extends { withTarget(t: DataqueryBuilder): P }>(
    panel: P,
    title: string,
    targets: Target[],
  ) {
    targets.forEach((t, i) => {
      this.queries.push({ dashboard: this.dashboard, panel: title, expr: t.expr, source: t.source });
      panel.withTarget(
        new DataqueryBuilder()
          .expr(t.expr)
          .legendFormat(t.legend)
          .refId(String.fromCharCode(65 + i)),
      );
    });
    return panel;
  }

  /** A time series panel with a visible legend (the SDK hides it by default). */
  timeseries(title: string, unit: string, targets: Target[], description = ''): timeseries.PanelBuilder {
    const panel = new timeseries.PanelBuilder()
      .title(title)
      .description(description)
      .datasource(datasource)
      .unit(unit)
      .height(8)
      .span(12)
      .lineWidth(1)
      .fillOpacity(10)
      .legend(
        new common.VizLegendOptionsBuilder()
          .showLegend(true)
          .displayMode(common.LegendDisplayMode.Table)
          .placement(common.LegendPlacement.Bottom)
          .calcs(['lastNotNull', 'max']),
      );
    return this.withTargets(panel, title, targets);
  }

  stat(title: string, unit: string, targets: Target[], description = ''): stat.PanelBuilder {
    const panel = new stat.PanelBuilder()
      .title(title)
      .description(description)
      .datasource(datasource)
      .unit(unit)
      .height(4)
      .span(6)
      .graphMode(common.BigValueGraphMode.Area);
    return this.withTargets(panel, title, targets);
  }
}
