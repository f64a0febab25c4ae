/** @jest-environment ./src/perception/ort-jest-environment.ts */
/**
 * Execution-provider choice with a stubbed provider list and session creation (the CUDA EP cannot run on these
 * machines): `auto` picks CUDA when it is listed and installed, falls back with a warning that names the reason
 * when creating the CUDA session throws or the provider is missing, and `--device cuda` without the provider
 * fails with an error that says how to install it. The stub sessions wrap real CPU sessions of a tiny package, so
 * I/O validation runs as it does on a GPU.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExecutionProviderError } from './errors';
import { loadModelPackage } from './package';
import {
  CUDA_INSTALL_HINT,
  OnnxModel,
  ortBinaryDir,
  ortProviderLister,
  ortSessionFactory,
  providerOrder,
  providerUnavailableReason,
  type ConcreteDevice,
  type PerceptionLogger,
  type ProviderInfo,
  type SessionFactory,
} from './session';

const TINY = path.resolve(__dirname, '../../test/models/tiny-random');
const pkg = loadModelPackage(TINY);
const spec = pkg.manifest.files.image_encoder;

function capture(): PerceptionLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) };
}

const LIST_WITH_CUDA: ProviderInfo[] = [
  { name: 'cpu', bundled: true, installed: true },
  { name: 'webgpu', bundled: true, installed: true },
  { name: 'cuda', bundled: false, installed: true },
];
const LIST_NO_CUDA_LIBS: ProviderInfo[] = [
  { name: 'cpu', bundled: true, installed: true },
  { name: 'webgpu', bundled: true, installed: true },
  { name: 'cuda', bundled: false, installed: false },
];

/** Records every device asked for; devices in `broken` throw `message` at creation, the others get a CPU session. */
function stubFactory(broken: Partial<Record<ConcreteDevice, string>> = {}) {
  const asked: ConcreteDevice[] = [];
  const factory: SessionFactory = async (model, device, options) => {
    asked.push(device);
    const msg = broken[device];
    if (msg) throw new Error(msg);
    return ortSessionFactory(model, 'cpu', options);
  };
  return { asked, factory };
}

const load = (opts: Parameters<typeof OnnxModel.load>[3]) =>
  OnnxModel.load(pkg.paths.imageEncoder, spec, 'image_encoder', opts);

describe('provider order', () => {
  it('auto tries cuda, webgpu, cpu; a named device only itself; anything else is a typed error', () => {
    expect(providerOrder('auto')).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(providerOrder('cuda')).toEqual(['cuda']);
    expect(() => providerOrder('gpu' as never)).toThrow(/not one of auto, cuda, webgpu, cpu/);
  });

  it('providerUnavailableReason: cpu always usable; unlisted or uninstalled providers name why', () => {
    expect(providerUnavailableReason('cpu', [])).toBeUndefined();
    expect(providerUnavailableReason('cuda', LIST_WITH_CUDA)).toBeUndefined();
    expect(providerUnavailableReason('cuda', LIST_NO_CUDA_LIBS)).toMatch(
      /libonnxruntime_providers_cuda\.so missing.*npm install --onnxruntime-node-install=cuda12/,
    );
    expect(providerUnavailableReason('webgpu', [{ name: 'cpu', bundled: true, installed: true }])).toMatch(
      /no webgpu execution provider \(it lists cpu\)/,
    );
  });
});

describe('device auto with a stubbed provider list', () => {
  it('picks cuda when it is listed and installed (one info line, no warning)', async () => {
    const { asked, factory } = stubFactory();
    const log = capture();
    const m = await load({
      device: 'auto',
      sessionFactory: factory,
      providerLister: () => LIST_WITH_CUDA,
      logger: log,
    });
    expect(m.device).toBe('cuda');
    expect(asked).toEqual(['cuda']);
    expect(m.attempts).toEqual([{ device: 'cuda', ok: true }]);
    expect(log.lines).toEqual([`info ${spec.file}: running on cuda`]);
    await m.release();
  });

  it('falls back to webgpu with a warning naming the reason when creating the cuda session throws', async () => {
    const { asked, factory } = stubFactory({
      cuda: 'Failed to load library libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open shared object file\nmore detail',
    });
    const log = capture();
    const m = await load({
      device: 'auto',
      sessionFactory: factory,
      providerLister: () => LIST_WITH_CUDA,
      logger: log,
    });
    expect(m.device).toBe('webgpu');
    expect(asked).toEqual(['cuda', 'webgpu']);
    const warns = log.lines.filter((l) => l.startsWith('warn'));
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatch(
      /running on webgpu; cuda unavailable \(Failed to load library .*libcudnn\.so\.9/,
    );
    expect(warns[0]).not.toMatch(/more detail/); // first line of the error only
    await m.release();
  });

  it('falls back to cpu naming both reasons when cuda and webgpu both fail', async () => {
    const { asked, factory } = stubFactory({
      cuda: 'CUDA failure 100: no CUDA-capable device',
      webgpu: 'no Vulkan adapter',
    });
    const log = capture();
    const m = await load({
      device: 'auto',
      sessionFactory: factory,
      providerLister: () => LIST_WITH_CUDA,
      logger: log,
    });
    expect(m.device).toBe('cpu');
    expect(asked).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(log.lines.join('\n')).toMatch(
      /running on cpu; cuda unavailable \(CUDA failure 100: no CUDA-capable device\); webgpu unavailable \(no Vulkan adapter\)/,
    );
    await m.release();
  });

  it('does not try cuda when its libraries are not installed, and says how to install them', async () => {
    const { asked, factory } = stubFactory();
    const log = capture();
    const m = await load({
      device: 'auto',
      sessionFactory: factory,
      providerLister: () => LIST_NO_CUDA_LIBS,
      logger: log,
    });
    expect(m.device).toBe('webgpu');
    expect(asked).toEqual(['webgpu']);
    expect(log.lines.join('\n')).toMatch(/cuda unavailable \(CUDA execution provider not installed/);
    expect(log.lines.join('\n')).toContain('npm install --onnxruntime-node-install=cuda12');
    await m.release();
  });

  it('a provider list that throws is reported and every provider is tried', async () => {
    const { asked, factory } = stubFactory({ cuda: 'boom' });
    const log = capture();
    const m = await load({
      device: 'auto',
      sessionFactory: factory,
      providerLister: () => {
        throw new Error('binding too old');
      },
      logger: log,
    });
    expect(asked).toEqual(['cuda', 'webgpu']);
    expect(log.lines[0]).toMatch(/could not list onnxruntime execution providers \(binding too old\)/);
    await m.release();
  });
});

describe('device cuda', () => {
  it('without the provider: ExecutionProviderError telling how to install it, no session attempted', async () => {
    const { asked, factory } = stubFactory();
    const err = await load({
      device: 'cuda',
      sessionFactory: factory,
      providerLister: () => LIST_NO_CUDA_LIBS,
      logger: capture(),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ExecutionProviderError);
    expect(err.message).toMatch(/no execution provider worked for device 'cuda'/);
    expect(err.message).toContain('npm install --onnxruntime-node-install=cuda12');
    expect(err.message).toContain(CUDA_INSTALL_HINT);
    expect(asked).toEqual([]);
  });

  it('installed but failing (no CUDA runtime): the reason plus what the provider needs', async () => {
    const { factory } = stubFactory({ cuda: 'libcublasLt.so.12: cannot open shared object file' });
    const err = await load({
      device: 'cuda',
      sessionFactory: factory,
      providerLister: () => LIST_WITH_CUDA,
      logger: capture(),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ExecutionProviderError);
    expect(err.message).toMatch(/cuda: libcublasLt\.so\.12: cannot open shared object file/);
    expect(err.message).toMatch(
      /CUDA 12 runtime and cuDNN 9 .*npm install --onnxruntime-node-install=cuda12/,
    );
  });

  it('with the real onnxruntime-node on this machine: cuda is listed, installed iff its library is present', async () => {
    const list = ortProviderLister();
    const names = list.map((p) => p.name);
    expect(names).toContain('cpu');
    const cuda = list.find((p) => p.name === 'cuda');
    const libPresent = fs.existsSync(path.join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so'));
    if (cuda) expect(cuda.installed).toBe(libPresent);
    if (!cuda?.installed) {
      // the real path (no stubs), as `declip replay --device cuda` takes it on a machine without the provider
      const err = await load({ device: 'cuda', logger: capture() }).catch((e) => e);
      expect(err).toBeInstanceOf(ExecutionProviderError);
      expect(err.message).toContain('npm install --onnxruntime-node-install=cuda12');
    }
  });
});
