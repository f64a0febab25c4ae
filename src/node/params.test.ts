import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import {
  PARAM_SCHEMA,
  ParamError,
  defaultParams,
  descriptorOf,
  loadParamsYaml,
  parseQueries,
  renderParamsYaml,
  resolveParams,
  validateParam,
} from './params';

const PARAMS_YAML = path.resolve(__dirname, '../../ros/config/params.yaml');

describe('parameter schema', () => {
  it('every parameter has a unique name, a description, a valid default and a group', () => {
    const names = new Set<string>();
    for (const p of PARAM_SCHEMA) {
      expect(names.has(p.name)).toBe(false);
      names.add(p.name);
      expect(p.name).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(p.description.length).toBeGreaterThan(20);
      expect(p.group).not.toBe('');
      expect(validateParam(p.name, p.default)).toEqual(p.default);
      if (p.range) expect(p.range.from).toBeLessThanOrEqual(p.range.to);
    }
    expect(names.size).toBeGreaterThanOrEqual(30);
  });

  it('descriptors carry ranges, choices and the restart note', () => {
    const d = descriptorOf(PARAM_SCHEMA.find((p) => p.name === 'score_threshold')!);
    expect(d.range).toEqual({ from: 0, to: 1, step: 0 });
    const dev = descriptorOf(PARAM_SCHEMA.find((p) => p.name === 'device')!);
    expect(dev.additionalConstraints).toBe('one of: auto, cuda, webgpu, cpu');
    expect(descriptorOf(PARAM_SCHEMA.find((p) => p.name === 'model_path')!).description).toMatch(/restart/);
  });

  it('validation errors name the parameter and the allowed range or choices', () => {
    expect(() => validateParam('score_threshold', 1.5)).toThrow(
      /'score_threshold' = 1.5 is out of range \[0, 1\]/,
    );
    expect(() => validateParam('device', 'tpu')).toThrow(
      /'device' = 'tpu' is not allowed \(allowed: auto, cuda, webgpu, cpu\)/,
    );
    expect(() => validateParam('qos_depth', 2.5)).toThrow(
      /'qos_depth' must be of type integer.*allowed: 1 to 100/,
    );
    expect(() => validateParam('publish_tf', 'yes')).toThrow(/'publish_tf' must be of type bool/);
    expect(() => validateParam('no_such_param', 1)).toThrow(
      /unknown parameter 'no_such_param'.*known: color_topic/,
    );
    try {
      validateParam('min_points', 0);
    } catch (e) {
      expect(e).toBeInstanceOf(ParamError);
      expect((e as ParamError).param).toBe('min_points');
    }
    // integers are fine for doubles
    expect(validateParam('sync_slop_s', 0)).toBe(0);
  });

  it('resolveParams overlays validated values on the defaults', () => {
    const p = resolveParams({ queries: 'red mug', max_instances: 3 });
    expect(p.queries).toBe('red mug');
    expect(p.max_instances).toBe(3);
    expect(p.device).toBe(defaultParams().device);
    expect(() => resolveParams({ max_instances: -1 })).toThrow(/max_instances/);
  });
});

describe('params YAML', () => {
  it('loads ros2 params files: node section, /** wildcard, namespaced keys, later sections win', () => {
    const text = [
      '/**:',
      '  ros__parameters:',
      '    use_sim_time: true',
      '    device: cpu',
      '/robot/declip_node:',
      '  ros__parameters:',
      '    queries: "red mug, bowl"',
      '    score_threshold: 0.3',
      'other_node:',
      '  ros__parameters:',
      '    device: cuda',
    ].join('\n');
    expect(loadParamsYaml(text)).toEqual({ device: 'cpu', queries: 'red mug, bowl', score_threshold: 0.3 });
  });

  it('rejects bad files naming the problem', () => {
    expect(() => loadParamsYaml('declip_node:\n  ros__parameters:\n    erosion_px: 99\n')).toThrow(
      /'erosion_px' = 99 is out of range \[0, 50\]/,
    );
    expect(() => loadParamsYaml('declip_node:\n  params:\n    x: 1\n')).toThrow(/no 'ros__parameters'/);
    expect(() => loadParamsYaml('declip_node: [\n', 'declip_node', 'my.yaml')).toThrow(
      /my.yaml is not valid YAML/,
    );
    expect(() => loadParamsYaml('declip_node:\n  ros__parameters:\n    colour_topic: x\n')).toThrow(
      /unknown parameter 'colour_topic'/,
    );
  });

  it('the rendered YAML loads back to the defaults', () => {
    expect(loadParamsYaml(renderParamsYaml())).toEqual(defaultParams());
  });

  it('ros/config/params.yaml is the generated file and documents every parameter', () => {
    const text = fs.readFileSync(PARAMS_YAML, 'utf8');
    // Regenerate: npm run build && node dist/node/main.js --print-params-yaml > ros/config/params.yaml
    expect(text).toBe(renderParamsYaml());
    const doc = yaml.load(text) as { declip_node: { ros__parameters: Record<string, unknown> } };
    expect(Object.keys(doc.declip_node.ros__parameters).sort()).toEqual(
      PARAM_SCHEMA.map((p) => p.name).sort(),
    );
    for (const p of PARAM_SCHEMA) {
      const lines = text.split('\n');
      const i = lines.findIndex((l) => l.trim().startsWith(`${p.name}:`));
      expect(lines[i - 1]).toMatch(/^ {4}# \(type: /);
      expect(lines[i - 2]).toMatch(/^ {4}# \S/);
    }
  });
});

describe('parseQueries', () => {
  it('splits on commas, trims, collapses spaces, drops empties and duplicates', () => {
    expect(parseQueries(' red  mug , cereal box,,red mug, ')).toEqual(['red mug', 'cereal box']);
    expect(parseQueries('')).toEqual([]);
    expect(parseQueries(' , ')).toEqual([]);
  });
});
