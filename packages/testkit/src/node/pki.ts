// The node's certificates, made with the openssl CLI (Node's crypto cannot write X.509): one cluster CA that
// signs the apiserver's and kubelet's serving certificates and a client certificate per component, plus a
// front-proxy CA for aggregated APIs (metrics-server). ECDSA P-256 keys: fast to generate on two shared cores.
// The kubelet gets a static client certificate instead of TLS bootstrapping: one node, made by the test.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  cert: string;
  key: string;
}

export interface NodePki {
  dir: string;
  ca: CertPair;
  frontProxyCa: CertPair;
  apiserver: CertPair;
  apiserverKubeletClient: CertPair;
  frontProxyClient: CertPair;
  kubeletServing: CertPair;
  /** Client certificates by kubeconfig user: admin, kubelet, controller-manager, scheduler, kube-proxy. */
  clients: Record<'admin' | 'kubelet' | 'controllerManager' | 'scheduler' | 'kubeProxy', CertPair>;
  saKey: string;
  saPub: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.trim() ?? e.message}`);
  }
}

async function makeCa(dir: string, name: string, subject: string): Promise<CertPair> {
  const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    pair.key,
    '-out',
    pair.cert,
    '-days',
    '3',
    '-subj',
    subject,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return pair;
}

async function makeCert(
  dir: string,
  name: string,
  ca: CertPair,
  subject: string,
  usage: 'server' | 'client',
  sans: string[] = [],
): Promise<CertPair> {
  const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  await openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    pair.key,
    '-out',
    csr,
    '-subj',
    subject,
  ]);
  const lines = [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
  ];
  if (sans.length > 0) lines.push(`subjectAltName=${sans.join(',')}`);
  writeFileSync(ext, `${lines.join('\n')}\n`);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    pair.cert,
    '-days',
    '3',
    '-extfile',
    ext,
  ]);
  return pair;
}

export async function makeNodePki(
  dir: string,
  opts: { nodeName: string; nodeIp: string; apiServiceIp: string },
): Promise<NodePki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await makeCa(dir, 'ca', '/CN=fraud-node-ca');
  const frontProxyCa = await makeCa(dir, 'front-proxy-ca', '/CN=fraud-node-front-proxy-ca');
  const apiserverSans = [
    `IP:${opts.nodeIp}`,
    `IP:${opts.apiServiceIp}`,
    'IP:127.0.0.1',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ];
  const client = (name: string, subject: string) => makeCert(dir, name, ca, subject, 'client');
  const saKey = path.join(dir, 'sa.key');
  const saPub = path.join(dir, 'sa.pub');
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', saKey]);
  await openssl(['pkey', '-in', saKey, '-pubout', '-out', saPub]);
  return {
    dir,
    ca,
    frontProxyCa,
    apiserver: await makeCert(dir, 'apiserver', ca, '/CN=kube-apiserver', 'server', apiserverSans),
    apiserverKubeletClient: await client(
      'apiserver-kubelet-client',
      '/O=system:masters/CN=kube-apiserver-kubelet-client',
    ),
    frontProxyClient: await makeCert(
      dir,
      'front-proxy-client',
      frontProxyCa,
      '/CN=front-proxy-client',
      'client',
    ),
    kubeletServing: await makeCert(dir, 'kubelet-serving', ca, `/CN=${opts.nodeName}`, 'server', [
      `IP:${opts.nodeIp}`,
      `DNS:${opts.nodeName}`,
    ]),
    clients: {
      admin: await client('admin', '/O=system:masters/CN=fraud-node-admin'),
      kubelet: await client('kubelet', `/O=system:nodes/CN=system:node:${opts.nodeName}`),
      controllerManager: await client('controller-manager', '/CN=system:kube-controller-manager'),
      scheduler: await client('scheduler', '/CN=system:kube-scheduler'),
      kubeProxy: await client('kube-proxy', '/CN=system:kube-proxy'),
    },
    saKey,
    saPub,
  };
}

export function kubeconfigFor(server: string, caFile: string, user: CertPair): string {
  const b64 = (file: string) => readFileSync(file).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: node
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(caFile)}
users:
- name: user
  user:
    client-certificate-data: ${b64(user.cert)}
    client-key-data: ${b64(user.key)}
contexts:
- name: node
  context: { cluster: node, user: user }
current-context: node
`;
}
