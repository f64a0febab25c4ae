/** @jest-environment ./src/perception/ort-jest-environment.ts */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { McapIndexedReader } from '@mcap/core';
import { decodeMessage, openBag, FileReadable, mcapDecompressHandlers, ensureZstd } from '../bag';
import { generateTestBags, DEMO_QUERIES } from '../synth/fixtures';
import { runCliCaptured } from './testutil';

const REPO = path.join(__dirname, '..', '..');
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));

function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const f of fs.readdirSync(d).sort()) {
      const p = path.join(d, f);
      if (fs.statSync(p).isDirectory()) walk(p);
      else out[path.relative(dir, p)] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

describe('test bags (test/bags)', () => {
  it('are regenerated bit-exactly by gen-test-bags', async () => {
    const dir = tmp('declip-bags-');
    await generateTestBags(dir);
    expect(hashTree(dir)).toEqual(hashTree(path.join(REPO, 'test', 'bags')));
  });

  it('demo bag: RealSense topics, 12 frames, ground truth with the demo queries, valid MCAP', async () => {
    const bag = await openBag(path.join(REPO, 'test', 'bags', 'demo'));
    const info = bag.info();
    const topics = Object.fromEntries(info.topics.map((t) => [t.topic, t.messageCount]));
    expect(topics['/camera/color/image_raw']).toBe(12);
    expect(topics['/camera/aligned_depth_to_color/image_raw']).toBe(12);
    expect(topics['/camera/color/camera_info']).toBe(12);
    expect(topics['/tf_static']).toBe(1);
    let gt: { objects: { caption: string; pose: { position: { z: number } } }[] } | undefined;
    for await (const m of bag.messages({ topics: ['/ground_truth/objects'] })) {
      gt = m.decode();
      break;
    }
    await bag.close();
    const captions = gt!.objects.map((o) => o.caption);
    for (const q of DEMO_QUERIES) expect(captions).toContain(`a ${q}`);
    for (const o of gt!.objects) expect(o.pose.position.z).toBeGreaterThan(0.2);
    // an independent reader (@mcap/core) validates chunk CRCs and the summary
    await ensureZstd();
    const file = fs.readdirSync(path.join(REPO, 'test', 'bags', 'demo')).find((f) => f.endsWith('.mcap'))!;
    const fp = path.join(REPO, 'test', 'bags', 'demo', file);
    const fh = await fs.promises.open(fp, 'r');
    const readable = new FileReadable(fh, BigInt(fs.statSync(fp).size), fp);
    const r = await McapIndexedReader.Initialize({ readable, decompressHandlers: mcapDecompressHandlers() });
    let n = 0;
    for await (const _ of r.readMessages({ validateCrcs: true })) n++;
    expect(n).toBe(info.messageCount);
    expect(r.header.profile).toBe('ros2');
    await fh.close();
  });

  it('sqlite3 fixtures: Humble (v3) directory bag and Jazzy (v4) single file read back', async () => {
    for (const [p, frames] of [
      ['small_humble', 3],
      ['small_jazzy.db3', 2],
    ] as const) {
      const bag = await openBag(path.join(REPO, 'test', 'bags', p));
      const info = bag.info();
      expect(info.storage).toBe('sqlite3');
      expect(info.topics.find((t) => t.topic === '/camera/color/image_raw')!.messageCount).toBe(frames);
      for await (const m of bag.messages({ topics: ['/camera/color/image_raw'] })) {
        const img = m.decode();
        expect([img.width, img.height, img.encoding]).toEqual([160, 120, 'rgb8']);
      }
      await bag.close();
    }
  });
});

describe('declip CLI', () => {
  it('synth writes a bag, BOP and NOCS datasets; bag info --json describes the bag', async () => {
    const dir = tmp('declip-synth-');
    const r = await runCliCaptured([
      'synth',
      '--seed',
      '4',
      '--frames',
      '2',
      '--objects',
      '2',
      '--width',
      '160',
      '--bag',
      path.join(dir, 'bag'),
      '--bop',
      path.join(dir, 'bop'),
      '--nocs',
      path.join(dir, 'nocs'),
      '--json',
    ]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.camera.width).toBe(160);
    expect(summary.camera.height).toBe(120);
    expect(fs.existsSync(path.join(dir, 'bop', 'test', '000001', 'scene_gt.json'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'nocs', 'real_test', 'scene_1'))).toBe(true);
    const info = await runCliCaptured(['bag', 'info', path.join(dir, 'bag'), '--json']);
    expect(info.code).toBe(0);
    const j = JSON.parse(info.out);
    expect(j.topics.find((t: { topic: string }) => t.topic === '/ground_truth/objects').messageCount).toBe(2);
    // refuses to overwrite without --overwrite, exit code 2
    const again = await runCliCaptured(['synth', '--bag', path.join(dir, 'bag')]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/already exists; delete it or pass --overwrite/);
  });

  it('bad arguments and bad input give the documented exit codes with a message', async () => {
    const r1 = await runCliCaptured(['synth', '--frames', 'zero', '--bag', '/tmp/x']);
    expect(r1.code).toBe(2);
    expect(r1.err).toMatch(/must be an integer/);
    const bad = path.join(tmp('declip-bad-'), 'bad.mcap');
    fs.writeFileSync(bad, Buffer.from('not an mcap file at all'));
    const r2 = await runCliCaptured(['bag', 'info', bad]);
    expect(r2.code).toBe(3);
    expect(r2.err).toMatch(/bad\.mcap/);
  });

  it('bag cat prints decoded messages as JSON lines with arrays summarised', async () => {
    const r = await runCliCaptured([
      'bag',
      'cat',
      path.join(REPO, 'test', 'bags', 'small_humble'),
      '-t',
      '/camera/color/camera_info',
      '-n',
      '2',
    ]);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0].message.width).toBe(160);
  });

  it('replay runs the node core over a bag and records every publication into a valid MCAP', async () => {
    const dir = tmp('declip-replay-');
    const out = path.join(dir, 'out.mcap');
    const r = await runCliCaptured([
      'replay',
      path.join(REPO, 'test', 'bags', 'small_humble'),
      '--query',
      'red, blue',
      '--model',
      path.join(REPO, 'test', 'models', 'tiny-analytic'),
      '--device',
      'cpu',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out.slice(r.out.indexOf('{')));
    expect(s.stats.processed).toBe(3);
    expect(s.publicationsByTopic['/declip_node/instances']).toBe(6); // one array per query per frame
    const bag = await openBag(out);
    const topics = bag.info().topics.map((t) => t.topic);
    expect(topics).toEqual(
      expect.arrayContaining(['/camera/color/image_raw', '/declip_node/instances', '/declip_node/markers']),
    );
    let q: string[] = [];
    for await (const m of bag.messages({ topics: ['/declip_node/instances'] }))
      q.push(decodeMessage(m.type, m.data).query);
    await bag.close();
    expect(q.slice(0, 2)).toEqual(['red', 'blue']);
    q = [];
    // a missing model package is a bad-input error naming model_path
    const bad = await runCliCaptured([
      'replay',
      path.join(REPO, 'test', 'bags', 'small_humble'),
      '--model',
      '/nonexistent',
      '--query',
      'x',
    ]);
    expect(bad.code).toBe(3);
    expect(bad.err).toMatch(/model_path: no model package at \/nonexistent/);
  });
});

describe('synthetic bag ground truth', () => {
  it('GroundTruthObject poses decode back to the rendered object poses (quaternion order x, y, z, w)', async () => {
    const { demoSequence } = await import('../synth/fixtures');
    const f = demoSequence().frames[0];
    const bag = await openBag(path.join(REPO, 'test', 'bags', 'demo'));
    let gt:
      { objects: { pose: { orientation: { x: number; y: number; z: number; w: number } } }[] } | undefined;
    for await (const m of bag.messages({ topics: ['/ground_truth/objects'] })) {
      gt = m.decode();
      break;
    }
    await bag.close();
    gt!.objects.forEach((o, k) => {
      const { x, y, z, w } = o.pose.orientation;
      const R = f.objects[k].poseCam.R;
      // first column of the rotation from the quaternion
      expect(1 - 2 * (y * y + z * z)).toBeCloseTo(R[0], 6);
      expect(2 * (x * y + z * w)).toBeCloseTo(R[3], 6);
      expect(2 * (x * z - y * w)).toBeCloseTo(R[6], 6);
    });
  });
});

describe('synthetic bag TF', () => {
  it('world <- camera_link (/tf) composed with camera_link <- optical (/tf_static) is the camera pose', async () => {
    const { demoSequence } = await import('../synth/fixtures');
    const { poseCompose, quatToMat3 } = await import('../geometry/linalg');
    const f = demoSequence().frames[0];
    const bag = await openBag(path.join(REPO, 'test', 'bags', 'demo'));
    const tf: Record<string, any> = {};
    for await (const m of bag.messages({ topics: ['/tf', '/tf_static'] }))
      tf[m.topic] ??= m.decode().transforms[0];
    await bag.close();
    const pose = (t: any) => {
      const { x, y, z, w } = t.transform.rotation;
      const p = t.transform.translation;
      return { R: quatToMat3([w, x, y, z]), tM: new Float64Array([p.x, p.y, p.z]) };
    };
    expect([tf['/tf'].header.frame_id, tf['/tf'].child_frame_id]).toEqual(['world', 'camera_link']);
    expect([tf['/tf_static'].header.frame_id, tf['/tf_static'].child_frame_id]).toEqual([
      'camera_link',
      'camera_color_optical_frame',
    ]);
    const cam = poseCompose(pose(tf['/tf']), pose(tf['/tf_static']));
    for (let k = 0; k < 9; k++) expect(cam.R[k]).toBeCloseTo(f.camPoseWorld.R[k], 6);
    for (let k = 0; k < 3; k++) expect(cam.tM[k]).toBeCloseTo(f.camPoseWorld.tM[k], 6);
  });
});
