// Runs the OpenAPI document's examples (server/schema/examples.ts) in order against a real server:
// each answers its status, the fields the example shows, and an answer its route's schema accepts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ajv } from '../../server/schema/body-check.js';
import { ErrorAnswer } from '../../server/schema/answers.js';
import { ROUTE_DOCS as CATALOGUE } from '../../server/schema/catalogue.js';
import { EXAMPLES } from '../../server/schema/examples.js';
import { ServerProcess } from '../helpers/server-process.js';

describe('the OpenAPI examples on a real server', () => {
  const server = new ServerProcess(ServerProcess.tempDataDir());
  beforeAll(() => server.start(), 60_000);
  afterAll(async () => { await server.stop(); server.cleanup(); });

  it('answer as the document says, in the shapes it says', async () => {
    const errorShape = ajv.compile(ErrorAnswer);
    for (const e of EXAMPLES) {
      const method = e.route.split(' ')[0]!;
      const where = `${e.route} (${e.name})`;
      const reply = await server.request(method, e.path, e.body);
      expect(reply.status, `${where}: ${JSON.stringify(reply.body)}`).toBe(e.status);
      const doc = CATALOGUE[e.route]!;
      const shape = e.status >= 400 ? errorShape : ajv.compile(doc.answer!);
      expect(shape(reply.body), `${where}: ${JSON.stringify(shape.errors)} in ${JSON.stringify(reply.body)}`).toBe(true);
      if (e.answer !== undefined) expect(reply.body, where).toMatchObject(e.answer);
    }
  }, 120_000);
});
