import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import test from 'ava';
import { aptInstall } from '../src/install/apt.ts';
import { findPostgres } from '../src/install/postgres.ts';
import { startPostgres, unprivilegedAccount } from '../src/postgres.ts';

test('startPostgres serves SQL on loopback and its socket, survives a crash, and removes everything on stop', async (t) => {
  const pg = await startPostgres({ database: 'testkit_db' });
  try {
    t.regex(pg.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/testkit_db$/);
    t.is(await pg.psql('select current_database()'), 'testkit_db');
    t.true(existsSync(`${pg.socketDir}/.s.PGSQL.${pg.port}`), 'unix socket in the temp dir');
    await pg.psql('create table t (id int primary key); insert into t values (1), (2)');
    // Only loopback: the server was told to listen on 127.0.0.1 and nowhere else.
    t.is(await pg.psql('show listen_addresses'), '127.0.0.1');
    if (process.getuid?.() === 0) {
      t.not(statSync(pg.dataDir).uid, 0, 'as root, the cluster belongs to an unprivileged user');
    }
    await pg.kill();
    await pg.restart();
    t.is(await pg.psql('select count(*) from t'), '2', 'committed rows survive a SIGKILL and restart');
    const other = await pg.createDatabase('second_db');
    t.true(other.endsWith('/second_db'));
    t.is(await pg.psql('select 1', 'second_db'), '1');
    await t.throwsAsync(pg.psql('select * from missing_table'), { message: /missing_table/ });
  } finally {
    await pg.stop();
  }
  t.false(existsSync(pg.dataDir), 'temp dir removed');
  const refused = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ port: pg.port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
  t.true(refused, 'nothing listens on the port after stop');
});

test('two servers run side by side on their own ports', async (t) => {
  const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
  try {
    t.not(a.port, b.port);
    t.is(await a.psql('select 1'), '1');
    t.is(await b.psql('select 1'), '1');
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('findPostgres finds the installed server binaries and unprivilegedAccount never picks root', (t) => {
  const found = findPostgres();
  t.truthy(found, 'setup installs postgresql');
  t.true(found!.major >= 13);
  t.is(findPostgres('/nonexistent'), undefined);
  const account = unprivilegedAccount(
    'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  );
  t.deepEqual(account, { name: 'nobody', uid: 65534, gid: 65534 });
  t.is(
    unprivilegedAccount(
      'postgres:x:105:110::/var/lib/postgresql:/bin/bash\nnobody:x:65534:65534::/:/bin/false',
    ).name,
    'postgres',
  );
  t.throws(() => unprivilegedAccount('root:x:0:0:root:/root:/bin/bash\n'), {
    message: /neither a postgres nor/,
  });
});

test('startPostgres rejects a database name it would have to quote', async (t) => {
  await t.throwsAsync(startPostgres({ database: 'bad-name; drop' }), { message: /is not \[a-z_\]/ });
});

test('aptInstall finds an installed package with dpkg-query and leaves it alone', async (t) => {
  // postgresql is installed (setup's postgres component): the dpkg-query check must see it and skip apt-get
  // (which needs root or sudo, and an apt mirror).
  await t.notThrowsAsync(aptInstall(['postgresql'], 'unused'));
});
