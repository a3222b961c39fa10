// The cluster add-ons the live node needs, as manifests rendered with the local image refs: CoreDNS (pods
// reach Services by name: activator → autoscaler, scorer → MLflow), metrics-server (the HPA-class autoscaler
// reads pod CPU through metrics.k8s.io) and kube-state-metrics (the alerts' kube_* series). Least-privilege
// RBAC, non-root, read-only root filesystems.

export interface AddonImages {
  coredns: string;
  metricsServer: string;
  kubeStateMetrics: string;
}

const hardened = `securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            runAsNonRoot: true
            runAsUser: 65534
            capabilities: { drop: [ALL] }
            seccompProfile: { type: RuntimeDefault }`;

export function corednsManifest(image: string, clusterIp: string): string {
  return `apiVersion: v1
kind: ServiceAccount
metadata: { name: coredns, namespace: kube-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: system:coredns }
rules:
  - apiGroups: [""]
    resources: [services, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: system:coredns }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns }
subjects: [{ kind: ServiceAccount, name: coredns, namespace: kube-system }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: coredns, namespace: kube-system }
data:
  # Cluster names only: no forward plugin, because nothing outside this machine is reachable (or wanted).
  Corefile: |
    .:1053 {
        errors
        health :8081
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        prometheus :9153
        cache 30
        loop
        reload
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: coredns, namespace: kube-system, labels: { k8s-app: kube-dns } }
spec:
  replicas: 1
  selector: { matchLabels: { k8s-app: kube-dns } }
  template:
    metadata: { labels: { k8s-app: kube-dns } }
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      containers:
        - name: coredns
          image: ${image}
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - { name: dns, containerPort: 1053, protocol: UDP }
            - { name: dns-tcp, containerPort: 1053, protocol: TCP }
            - { name: metrics, containerPort: 9153 }
          readinessProbe: { httpGet: { path: /ready, port: 8181 }, periodSeconds: 2 }
          livenessProbe: { httpGet: { path: /health, port: 8081 }, periodSeconds: 10 }
          resources:
            requests: { cpu: 20m, memory: 32Mi }
            limits: { memory: 128Mi }
          volumeMounts: [{ name: config, mountPath: /etc/coredns, readOnly: true }]
          ${hardened}
      volumes: [{ name: config, configMap: { name: coredns } }]
---
apiVersion: v1
kind: Service
metadata: { name: kube-dns, namespace: kube-system, labels: { k8s-app: kube-dns } }
spec:
  clusterIP: ${clusterIp}
  selector: { k8s-app: kube-dns }
  ports:
    - { name: dns, port: 53, targetPort: 1053, protocol: UDP }
    - { name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP }
    - { name: metrics, port: 9153, targetPort: 9153 }
`;
}

export function metricsServerManifest(image: string): string {
  return `apiVersion: v1
kind: ServiceAccount
metadata: { name: metrics-server, namespace: kube-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: system:metrics-server }
rules:
  - apiGroups: [""]
    resources: [nodes/metrics]
    verbs: [get]
  - apiGroups: [""]
    resources: [pods, nodes]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: system:metrics-server }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:metrics-server }
subjects: [{ kind: ServiceAccount, name: metrics-server, namespace: kube-system }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: metrics-server-auth-reader, namespace: kube-system }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader }
subjects: [{ kind: ServiceAccount, name: metrics-server, namespace: kube-system }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: metrics-server:system:auth-delegator }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator }
subjects: [{ kind: ServiceAccount, name: metrics-server, namespace: kube-system }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:aggregated-metrics-reader
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
rules:
  - apiGroups: [metrics.k8s.io]
    resources: [pods, nodes]
    verbs: [get, list, watch]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: metrics-server, namespace: kube-system, labels: { k8s-app: metrics-server } }
spec:
  replicas: 1
  selector: { matchLabels: { k8s-app: metrics-server } }
  template:
    metadata: { labels: { k8s-app: metrics-server } }
    spec:
      serviceAccountName: metrics-server
      containers:
        - name: metrics-server
          image: ${image}
          imagePullPolicy: Never
          args:
            - --secure-port=10250
            - --cert-dir=/tmp
            - --kubelet-preferred-address-types=InternalIP
            # The node's kubelet listens on a free port, published in the Node's status, not on 10250.
            - --kubelet-use-node-status-port
            # The kubelet's serving certificate is signed by the cluster CA, which every pod has mounted.
            - --kubelet-certificate-authority=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt
            - --metric-resolution=15s
          ports: [{ name: https, containerPort: 10250 }]
          readinessProbe: { httpGet: { path: /readyz, port: https, scheme: HTTPS }, periodSeconds: 5 }
          resources:
            requests: { cpu: 20m, memory: 64Mi }
            limits: { memory: 256Mi }
          volumeMounts: [{ name: tmp, mountPath: /tmp }]
          ${hardened}
      volumes: [{ name: tmp, emptyDir: {} }]
---
apiVersion: v1
kind: Service
metadata: { name: metrics-server, namespace: kube-system }
spec:
  selector: { k8s-app: metrics-server }
  ports: [{ name: https, port: 443, targetPort: https }]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: { name: v1beta1.metrics.k8s.io }
spec:
  service: { name: metrics-server, namespace: kube-system }
  group: metrics.k8s.io
  version: v1beta1
  insecureSkipTLSVerify: true # metrics-server's self-signed serving certificate (generated in /tmp)
  groupPriorityMinimum: 100
  versionPriority: 100
`;
}

export function kubeStateMetricsManifest(image: string): string {
  return `apiVersion: v1
kind: ServiceAccount
metadata: { name: kube-state-metrics, namespace: kube-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: kube-state-metrics }
rules:
  - apiGroups: [""]
    resources: [pods, nodes, namespaces, services, endpoints]
    verbs: [list, watch]
  - apiGroups: [apps]
    resources: [deployments, replicasets]
    verbs: [list, watch]
  - apiGroups: [autoscaling]
    resources: [horizontalpodautoscalers]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: kube-state-metrics }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kube-state-metrics }
subjects: [{ kind: ServiceAccount, name: kube-state-metrics, namespace: kube-system }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: kube-state-metrics, namespace: kube-system, labels: { app.kubernetes.io/name: kube-state-metrics } }
spec:
  replicas: 1
  selector: { matchLabels: { app.kubernetes.io/name: kube-state-metrics } }
  template:
    metadata: { labels: { app.kubernetes.io/name: kube-state-metrics } }
    spec:
      serviceAccountName: kube-state-metrics
      containers:
        - name: kube-state-metrics
          image: ${image}
          imagePullPolicy: Never
          args:
            - --port=8080
            - --telemetry-port=8081
            - --resources=pods,nodes,namespaces,services,endpoints,deployments,replicasets,horizontalpodautoscalers
          ports: [{ name: http-metrics, containerPort: 8080 }, { name: telemetry, containerPort: 8081 }]
          readinessProbe: { httpGet: { path: /readyz, port: 8081 }, periodSeconds: 5 }
          resources:
            requests: { cpu: 20m, memory: 48Mi }
            limits: { memory: 256Mi }
          ${hardened}
---
apiVersion: v1
kind: Service
metadata: { name: kube-state-metrics, namespace: kube-system, labels: { app.kubernetes.io/name: kube-state-metrics } }
spec:
  selector: { app.kubernetes.io/name: kube-state-metrics }
  ports: [{ name: http-metrics, port: 8080, targetPort: http-metrics }]
`;
}
