// Any model the pipeline trains is served without code changes: here a card with other feature names and
// types (as a model trained on the credit-card CSV would have: V1.., Amount, all plain numbers) over the
// same ONNX graph. Validation, encoding and v2 metadata follow the card.
import test from 'ava';
import { loadCard, modelCopy } from './helpers/model.ts';
import { inProcess } from './helpers/server.ts';

const bundled = loadCard();
const names = bundled.features.map((_, i) => (i === bundled.features.length - 1 ? 'Amount' : `V${i + 1}`));

test('a card with different features changes the request schema, encoding and metadata, not the code', async (t) => {
  const dir = modelCopy((card) => {
    card.name = 'creditcard-detector';
    card.threshold = 0.5;
    card.features = names.map((name) => ({ name, type: 'number' }));
  });
  const s = await inProcess({ MODEL_URI: dir });
  try {
    const tx = Object.fromEntries(names.map((n, i) => [n, i - 3.5]));
    const ok = await s.app.inject({
      method: 'POST',
      url: '/score',
      payload: { ...tx, transaction_id: 't-1' },
    });
    t.is(ok.statusCode, 200, ok.body);
    t.is(ok.json().model.name, 'creditcard-detector');
    t.is(ok.json().threshold, 0.5);
    const old = await s.app.inject({ method: 'POST', url: '/score', payload: { amount: 5 } });
    t.is(old.statusCode, 400);
    t.regex(old.json().error, /must have required property 'V1'/);
    const meta = (await s.app.inject('/v2/models/creditcard-detector')).json();
    t.deepEqual(meta.inputs[0].shape, [-1, names.length]);
    const same = await s.app.inject({
      method: 'POST',
      url: '/v2/models/creditcard-detector/infer',
      payload: {
        inputs: [
          { name: bundled.input.name, shape: [1, names.length], datatype: 'FP32', data: Object.values(tx) },
        ],
      },
    });
    t.is(same.statusCode, 200, same.body);
    t.is(same.json().outputs[0].data[1], ok.json().fraud_probability);
  } finally {
    await s.close();
  }
});
