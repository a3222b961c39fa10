import {
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  VariableRefresh,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { datasource } from './panels.ts';

export const datasourceVariable = () =>
  new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus');

/** Namespaces that run a scorer (multi-select, "All" by default). */
export const namespaceVariable = () =>
  new QueryVariableBuilder('namespace')
    .label('Namespace')
    .datasource(datasource)
    .query('label_values(fraud_scorer_model_info, namespace)')
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .multi(true)
    .includeAll(true)
    .allValue('.+');
