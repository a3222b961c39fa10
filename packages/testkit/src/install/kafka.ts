// Installs an Apache Kafka broker (KRaft) from Maven Central: kafka_2.13 with its runtime dependencies,
// kafka-tools (for the ProducerPerformance benchmark) and a log4j 2 backend, resolved by Maven into the
// machine cache. Idempotent: a stamp holding the version and the pom's hash skips all work next time.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../paths.ts';

export const KAFKA_VERSION = '4.4.0';
const LOG4J_VERSION = '2.25.3';
// Kafka's poms still name slf4j 1.7; log4j-slf4j2-impl needs the 2.x API, which is backward compatible.
const SLF4J_VERSION = '2.0.17';

export interface KafkaInstall {
  /** Java classpath (every jar of the broker, the tools and log4j). */
  classpath: string;
  version: string;
  /** A log4j 2 config that logs INFO to stdout (the process helper sends stdout to a log file). */
  log4jConfig: string;
  home: string;
}

function pom(): string {
  const dep = (group: string, artifact: string, version: string, exclusions = '') =>
    `    <dependency><groupId>${group}</groupId><artifactId>${artifact}</artifactId><version>${version}</version>${exclusions}</dependency>`;
  // kafka-tools drags in Kafka Connect (Jetty, Jersey); ProducerPerformance needs none of it.
  const noConnect = ['connect-runtime', 'connect-json', 'connect-api', 'connect-transforms']
    .map((a) => `<exclusion><groupId>org.apache.kafka</groupId><artifactId>${a}</artifactId></exclusion>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.fraud-platform</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
${dep('org.apache.kafka', 'kafka_2.13', KAFKA_VERSION)}
${dep('org.apache.kafka', 'kafka-tools', KAFKA_VERSION, `<exclusions>${noConnect}</exclusions>`)}
${dep('org.slf4j', 'slf4j-api', SLF4J_VERSION)}
${dep('org.apache.logging.log4j', 'log4j-core', LOG4J_VERSION)}
${dep('org.apache.logging.log4j', 'log4j-slf4j2-impl', LOG4J_VERSION)}
  </dependencies>
</project>
`;
}

const LOG4J_CONFIG = `# Broker logs: INFO to stdout, the chatty request and controller loggers at WARN.
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.controller.name = kafka.controller
logger.controller.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.raft.name = org.apache.kafka.raft
logger.raft.level = warn
`;

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.once('error', (err) =>
      reject(
        new Error(`could not run ${command} (is Maven installed? apt-get install maven): ${err.message}`),
      ),
    );
    child.once('close', (code) => resolve({ code, output }));
  });
}

function layout(home: string): KafkaInstall {
  const libDir = path.join(home, 'lib');
  const jars = readdirSync(libDir)
    .filter((f) => f.endsWith('.jar'))
    .sort()
    .map((f) => path.join(libDir, f));
  return {
    classpath: jars.join(path.delimiter),
    version: KAFKA_VERSION,
    log4jConfig: path.join(home, 'log4j2.properties'),
    home,
  };
}

/** Resolves the Kafka jars into the cache (once per version and pom) and returns the classpath. */
export async function ensureKafka(): Promise<KafkaInstall> {
  const home = path.join(cacheDir, `kafka-${KAFKA_VERSION}`);
  const pomText = pom();
  const stampWanted = `${KAFKA_VERSION} ${createHash('sha256').update(pomText).update(LOG4J_CONFIG).digest('hex')}`;
  const stampFile = path.join(home, '.stamp');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stampWanted) return layout(home);

  // Build in a private folder and rename it into place, so parallel test processes never see half a lib/.
  const staging = `${home}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  writeFileSync(path.join(staging, 'pom.xml'), pomText);
  writeFileSync(path.join(staging, 'log4j2.properties'), LOG4J_CONFIG);
  const mvn = await run(
    'mvn',
    [
      '-q',
      '-B',
      'dependency:copy-dependencies',
      `-DoutputDirectory=${path.join(staging, 'lib')}`,
      '-DincludeScope=runtime',
    ],
    staging,
  );
  if (mvn.code !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(
      `Maven could not resolve Kafka ${KAFKA_VERSION} from Maven Central (exit ${mvn.code}):\n${mvn.output.slice(-3000)}`,
    );
  }
  if (!readdirSync(path.join(staging, 'lib')).includes(`kafka_2.13-${KAFKA_VERSION}.jar`)) {
    throw new Error(`Maven finished but ${staging}/lib has no kafka_2.13-${KAFKA_VERSION}.jar`);
  }
  writeFileSync(path.join(staging, '.stamp'), stampWanted);
  rmSync(home, { recursive: true, force: true });
  try {
    renameSync(staging, home);
  } catch (err) {
    // Another process finished first: use its copy if it is complete.
    rmSync(staging, { recursive: true, force: true });
    if (!(existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stampWanted)) throw err;
  }
  const install = layout(home);
  return install;
}
