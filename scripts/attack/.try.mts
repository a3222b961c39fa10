import { startKafka } from '@fraud/testkit/kafka';
import { $ } from 'zx';

const k = await startKafka({
  topics: ['transactions', 'decisions', { topic: 'transactions-dlq', partitions: 1 }],
});
$.verbose = true;
await $`npx tsx scripts/attack/cli.mts --bootstrap ${k.bootstrap} --count 3000 --rate 1000 --report-dir /tmp/atk`.nothrow();
await $`npx tsx scripts/attack/cli.mts --bootstrap ${k.bootstrap} --count 200000 --rate max --quiet --report-dir /tmp/atk`.nothrow();
await k.stop();
