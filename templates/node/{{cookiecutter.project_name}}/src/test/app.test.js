// Run with `devstack run npm test` (node's built-in test runner, against the running database).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { app, pool } = require("../server.js");

test("the start page reaches the database and records the visit", async (t) => {
  const server = app.listen(0, "127.0.0.1");
  t.after(() => server.close());
  await new Promise((resolve) => server.once("listening", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;

  const count = async () => (await pool.query("SELECT count(*)::int AS n FROM visits")).rows[0].n;
  assert.equal((await fetch(`${url}/`)).status, 200); // creates the table on a fresh database
  const before = await count();
  const response = await fetch(`${url}/`);
  assert.equal(response.status, 200);
  assert.match(await response.text(), /all services reachable/);
  assert.equal(await count(), before + 1);

  const health = await fetch(`${url}/healthz`);
  assert.equal(await health.text(), "ok\n");
});

test.after(() => pool.end());
