// The BullMQ side of `just bench-queue`: enqueue N no-op jobs with addBulk (batches of 1,000),
// then drain them with one Worker at concurrency C; prints `bullmq enqueue_s=.. drain_s=.. jobs=N`.
const { Queue, Worker } = require('bullmq');

async function main() {
  const [port, jobs, concurrency, pad] = process.argv.slice(2).map(Number);
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const queue = new Queue('bench', { connection });
  const padding = 'x'.repeat(pad);

  const t0 = process.hrtime.bigint();
  for (let i = 0; i < jobs; i += 1000) {
    const n = Math.min(1000, jobs - i);
    const batch = [];
    for (let k = i; k < i + n; k++) batch.push({ name: 'noop', data: { n: k, pad: padding } });
    await queue.addBulk(batch);
  }
  const enqueueS = Number(process.hrtime.bigint() - t0) / 1e9;

  let done = 0;
  const t1 = process.hrtime.bigint();
  const finished = new Promise((resolve) => {
    const worker = new Worker('bench', async () => null, { connection, concurrency });
    worker.on('completed', () => {
      done += 1;
      if (done === jobs) resolve(worker);
    });
  });
  const worker = await finished;
  const drainS = Number(process.hrtime.bigint() - t1) / 1e9;
  await worker.close();
  await queue.close();
  console.log(`bullmq enqueue_s=${enqueueS.toFixed(3)} drain_s=${drainS.toFixed(3)} jobs=${jobs}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
