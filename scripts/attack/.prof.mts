import { transactionMessage } from '@fraud/local-dispatcher/transaction-event';
import { TransactionSource, withoutLabels } from '@fraud/transactions';

const s = new TransactionSource({ seed: 1 });
let t = performance.now();
const txs = Array.from({ length: 50000 }, () => withoutLabels(s.next()));
console.log('generate', ((performance.now() - t) / 50).toFixed(1), 'us/ev');
t = performance.now();
const time = new Date();
for (const tx of txs) transactionMessage(tx, { source: '/a', time });
console.log('encode sdk', ((performance.now() - t) / 50).toFixed(1), 'us/ev');
t = performance.now();
for (const tx of txs) JSON.stringify(tx);
console.log('json only', ((performance.now() - t) / 50).toFixed(1), 'us/ev');
