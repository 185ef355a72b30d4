// End to end, in headless Chromium (Debian's `chromium`, driven by playwright-core): the real
// `ticket-bridge sandbox` with the built app. The customer opens a case on the customer page;
// the agent's sidebar (the unmodified app in the emulated workspace) shows it; the agent takes
// the ticket; the customer's message appears live in the sidebar; the agent's reply appears on
// the customer page and as a public comment on the ticket; after the agent's connection drops
// and comes back, the message said meanwhile is there, once.
//
// Needs: `npm run build` done (dist/), the bridge binary built (TB_BIN, default
// ../target/debug/ticket-bridge), chromium at CHROMIUM (default /usr/bin/chromium).
// Screenshots go to e2e/screenshots/ (the README shows them).

import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const bin = resolve(process.env.TB_BIN ?? join(here, '../../target/debug/ticket-bridge'));
const shots = join(here, 'screenshots');
const STEP_MS = 15_000;

function startSandbox() {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(bin, ['sandbox'], {
    env: { PATH: process.env.PATH, PORT: String(port), RUST_LOG: 'warn', ZENDESK_APP_DIST: join(here, '../dist') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`the sandbox printed no banner:\n${out}`)), 30_000);
    child.on('exit', (code) => fail(new Error(`the sandbox exited (${code}):\n${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const pages = out.match(/customer chat\s+(http:\/\/[^\s]+)\/customer/);
      if (pages && /agent workspace/.test(out)) {
        clearTimeout(timer);
        ok({ child, pages: pages[1] });
      }
    });
  });
}

const results = [];
async function step(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok   ${name}`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}\n     ${e.message.split('\n').join('\n     ')}`);
    throw e;
  }
}

const { child, pages } = await startSandbox();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  mkdirSync(shots, { recursive: true });
  // Two browsers' worth of state: the customer's phone and the agent's desk.
  const customerCtx = await browser.newContext({ viewport: { width: 480, height: 760 } });
  const agentCtx = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const customer = await customerCtx.newPage();
  const agent = await agentCtx.newPage();
  const errors = [];
  agent.on('pageerror', (e) => errors.push(e.message));
  const app = agent.frameLocator('iframe[title="ticket-bridge sidebar"]');
  const say = async (text) => {
    await customer.fill('#text', text);
    await customer.press('#text', 'Enter');
  };

  await step('the customer opens a case', async () => {
    await customer.goto(`${pages}/customer`);
    await customer.click('#open-button');
    await customer.waitForSelector('#compose:not([hidden])', { timeout: STEP_MS });
    await customer.getByText('Your case #1 has been opened').waitFor({ timeout: STEP_MS });
  });

  await step("the agent's sidebar shows the case, read-only until taken", async () => {
    await agent.goto(`${pages}/workspace/tickets/1`);
    await app.getByText('Chat with Alice').waitFor({ timeout: STEP_MS });
    await app.getByText('Your case #1 has been opened').waitFor({ timeout: STEP_MS });
    await app.getByRole('button', { name: 'Take this ticket' }).click({ timeout: STEP_MS });
    await app.locator('textarea.composer__input').waitFor({ timeout: STEP_MS });
  });

  await step("the customer's message appears live in the sidebar", async () => {
    await say('My vase arrived in pieces');
    await app.getByText('My vase arrived in pieces').waitFor({ timeout: STEP_MS });
  });

  await step("the agent's reply reaches the customer and the ticket", async () => {
    const input = app.locator('textarea.composer__input');
    await input.fill('Sorry to hear that, Alice. A refund is on its way.');
    await input.press('Enter');
    await customer.getByText('A refund is on its way.').waitFor({ timeout: STEP_MS });
    const deadline = Date.now() + STEP_MS;
    for (;;) {
      const body = await (await fetch(`${pages}/zendesk/tickets`)).json();
      const ticket = body.tickets.find((t) => t.id === 1);
      const comment = ticket?.comments.find((c) => c.body.includes('A refund is on its way.'));
      if (comment) {
        if (!comment.public || comment.author_id !== ticket.assignee_id) {
          throw new Error(`the reply is not a public comment by the assignee: ${JSON.stringify(comment)}`);
        }
        break;
      }
      if (Date.now() > deadline) throw new Error('the reply never reached the ticket');
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  await step('after the stream drops, nothing said meanwhile is missed', async () => {
    await agentCtx.setOffline(true);
    await say('Are you still there?');
    await customer.getByText('Are you still there?').waitFor({ timeout: STEP_MS });
    await agentCtx.setOffline(false);
    await app.getByText('Are you still there?').waitFor({ timeout: 2 * STEP_MS });
    const copies = await app.getByText('Are you still there?').count();
    if (copies !== 1) throw new Error(`shown ${copies} times`);
  });

  await step('no script errors in the sidebar', async () => {
    if (errors.length) throw new Error(errors.join('\n'));
  });

  await agent.waitForTimeout(500);
  await agent.screenshot({ path: join(shots, 'workspace.png') });
  await customer.screenshot({ path: join(shots, 'customer.png') });
} catch {
  // reported by step()
} finally {
  await browser.close();
  child.kill();
}
const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
