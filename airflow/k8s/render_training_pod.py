"""Print, as JSON, the Pod that fraud_retrain_kpo's KubernetesPodOperator would create.

The cluster test (`npm run test:cluster`) submits it to a real kube-apiserver (server-side dry-run under
PodSecurity "restricted") and checks that the volume claim and Secret it references are the ones the
bootstrap creates. The operator's hook reads KUBECONFIG, as it would outside a cluster.

    .venv/bin/python airflow/k8s/render_training_pod.py > pod.json
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
AIRFLOW_DIR = HERE.parent


def render() -> dict:
    # The DAG file imports the steps module the way the training image lays it out.
    sys.path[:0] = [str(AIRFLOW_DIR), str(AIRFLOW_DIR / "dags")]
    spec = importlib.util.spec_from_file_location("fraud_retrain_kpo", HERE / "fraud_retrain_kpo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.fraud_retrain_kpo()
    task = dag.get_task("retrain_in_training_image")
    pod = task.build_pod_request_obj()

    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(pod)


if __name__ == "__main__":
    print(json.dumps(render()))
