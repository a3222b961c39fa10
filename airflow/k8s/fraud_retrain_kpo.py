"""fraud_retrain_kpo: the same pipeline with training in its own image (KubernetesPodOperator).

For clusters where the Airflow workers stay small and training runs in a dedicated image (more memory, a
GPU node pool). The pod runs the DAG's own step functions (airflow/dags/retrain_steps.py) through
`python -c`, so there is one implementation of the steps; the training image must have airflow/ and
airflow/dags/ on PYTHONPATH and the training requirements installed (it does not need Airflow itself).
To use it, point git-sync's subPath at a folder holding this file, or copy it into the DAG folder.
Needs apache-airflow-providers-cncf-kubernetes in the Airflow image (the local venv has it: pytest parses
this DAG, and the cluster test submits the Pod it renders to a real apiserver, see render_training_pod.py).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import dag
from kubernetes.client import models as k8s

TRAINING_IMAGE = os.environ.get("FRAUD_TRAINING_IMAGE", "registry.invalid/fraud/training:set-by-deploy")
WORK = k8s.V1Volume(
    name="retrain-work", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name="airflow-retrain-work")
)
WORK_MOUNT = k8s.V1VolumeMount(name="retrain-work", mount_path="/work")
SECURITY = k8s.V1SecurityContext(
    run_as_non_root=True,
    allow_privilege_escalation=False,
    read_only_root_filesystem=True,
    capabilities=k8s.V1Capabilities(drop=["ALL"]),
    seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
)
ENV = [
    k8s.V1EnvVar(name="MLFLOW_TRACKING_URI", value=os.environ.get("MLFLOW_TRACKING_URI", "http://mlflow.mlflow.svc.cluster.local:5000")),
    k8s.V1EnvVar(name="FRAUD_WORK_DIR", value="/work"),
    k8s.V1EnvVar(name="FRAUD_RETRAIN_HOOK_URL", value=os.environ.get("FRAUD_RETRAIN_HOOK_URL", "http://retrain-hook.fraud.svc.cluster.local")),
    k8s.V1EnvVar(
        name="FRAUD_RETRAIN_HOOK_SECRET",
        value_from=k8s.V1EnvVarSource(secret_key_ref=k8s.V1SecretKeySelector(name="retrain-hook-hmac", key="secret")),
    ),
    k8s.V1EnvVar(name="HOME", value="/tmp"),
]

# All steps in one pod: the dataset and model never leave the training image's node until they reach MLflow.
SCRIPT = """
import json, pathlib, retrain_steps as s
config = s.RetrainConfig.from_params(json.loads('''{{ params | tojson }}'''))
work = pathlib.Path('/work') / '{{ run_id | replace(":", "_") | replace("+", "_") }}'
s.extract(config, work)
champion = s.fetch_champion(__import__('os').environ['MLFLOW_TRACKING_URI'], work)
profile_file = champion / s.PROFILE_FILE if champion else None
profile = json.loads(profile_file.read_text()) if profile_file and profile_file.exists() else None
validation = s.validate(config, work, profile)
s.train(config, work)
report = s.evaluate(config, work, champion)
registered = s.log_and_register(__import__('os').environ['MLFLOW_TRACKING_URI'], work, config, validation, report,
                                {'dag_id': '{{ dag.dag_id }}', 'dag_run_id': '{{ run_id }}'})
url, secret = s.hook_settings()
print(json.dumps(s.notify_hook(url, secret, {'type': 'model_version.registered', 'model_name': 'fraud-detector',
      'version': registered['version'], 'dag_id': '{{ dag.dag_id }}', 'dag_run_id': '{{ run_id }}'})))
"""


@dag(
    dag_id="fraud_retrain_kpo",
    schedule=os.environ.get("FRAUD_RETRAIN_SCHEDULE", "@daily"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["fraud", "mlops", "kubernetes-pod"],
    params={"source": "synthetic", "rows": 40_000, "seed": 42},
)
def fraud_retrain_kpo():
    KubernetesPodOperator(
        task_id="retrain_in_training_image",
        name="fraud-retrain",
        namespace=os.environ.get("FRAUD_TRAINING_NAMESPACE", "airflow"),
        image=TRAINING_IMAGE,
        cmds=["python", "-c"],
        arguments=[SCRIPT],
        env_vars=ENV,
        volumes=[WORK, k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="1Gi"))],
        volume_mounts=[WORK_MOUNT, k8s.V1VolumeMount(name="tmp", mount_path="/tmp")],
        security_context=k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=50000),
        container_security_context=SECURITY,
        container_resources=k8s.V1ResourceRequirements(requests={"cpu": "2", "memory": "4Gi"}, limits={"memory": "8Gi"}),
        service_account_name="fraud-training",  # no Kubernetes API rights needed: automount off below
        automount_service_account_token=False,
        get_logs=True,
        on_finish_action="delete_pod",
    )


fraud_retrain_kpo()
