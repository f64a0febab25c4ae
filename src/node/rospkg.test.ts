/** Structural checks of the ros/ ament package (no ROS installation needed). */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { parseRosArgs } from './main';
import { loadRclnodejsRuntime, RosEnvironmentError, rosEnvironmentAvailable } from './rclnodejs';

const ROS = path.resolve(__dirname, '../../ros');
const read = (p: string) => fs.readFileSync(path.join(ROS, p), 'utf8');

const PRIMITIVES = new Set([
  'bool',
  'byte',
  'char',
  'float32',
  'float64',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'string',
  'wstring',
]);
/** Types from the dependencies declared in package.xml that the interfaces may use. */
const EXTERNAL_TYPES = new Set([
  'std_msgs/Header',
  'builtin_interfaces/Time',
  'builtin_interfaces/Duration',
  'sensor_msgs/Image',
  'sensor_msgs/RegionOfInterest',
  'sensor_msgs/CameraInfo',
  'geometry_msgs/Pose',
  'geometry_msgs/Point',
  'geometry_msgs/Quaternion',
  'geometry_msgs/Vector3',
  'geometry_msgs/Transform',
]);

function tag(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}(?:\\s[^>]*)?>([^<]*)</${name}>`, 'g'))].map((m) =>
    m[1].trim(),
  );
}

function interfaceFiles(): string[] {
  const out: string[] = [];
  for (const dir of ['msg', 'srv']) {
    if (!fs.existsSync(path.join(ROS, dir))) continue;
    for (const f of fs.readdirSync(path.join(ROS, dir)).sort()) out.push(`${dir}/${f}`);
  }
  return out;
}

describe('ros/ package', () => {
  it('package.xml is format 3 with name, version, license, maintainer, build type and interface deps', () => {
    const xml = read('package.xml');
    expect(xml).toMatch(/<package format="3">/);
    expect(tag(xml, 'name')).toEqual(['declip_ros']);
    expect(tag(xml, 'version')[0]).toMatch(/^\d+\.\d+\.\d+$/);
    expect(tag(xml, 'license')).toEqual(['Apache-2.0']);
    expect(xml).toMatch(/<maintainer email="[^"]+@[^"]+">[^<]+<\/maintainer>/);
    expect(tag(xml, 'description')[0].length).toBeGreaterThan(20);
    expect(tag(xml, 'buildtool_depend')).toEqual(
      expect.arrayContaining(['ament_cmake', 'rosidl_default_generators']),
    );
    expect(tag(xml, 'depend')).toEqual(
      expect.arrayContaining([
        'builtin_interfaces',
        'std_msgs',
        'sensor_msgs',
        'geometry_msgs',
        'vision_msgs',
        'visualization_msgs',
        'diagnostic_msgs',
      ]),
    );
    expect(tag(xml, 'exec_depend')).toContain('rosidl_default_runtime');
    expect(tag(xml, 'member_of_group')).toEqual(['rosidl_interface_packages']);
    expect(tag(xml, 'build_type')).toEqual(['ament_cmake']);
  });

  it('CMakeLists generates every interface file and installs launch, config, JS and the wrapper', () => {
    const cmake = read('CMakeLists.txt');
    expect(cmake).toMatch(/project\(declip_ros\)/);
    const listed = [...cmake.matchAll(/"((?:msg|srv)\/[A-Za-z0-9]+\.(?:msg|srv))"/g)].map((m) => m[1]).sort();
    for (const f of interfaceFiles()) expect(listed).toContain(f);
    expect(listed).toEqual(
      expect.arrayContaining([
        'msg/ObjectInstance.msg',
        'msg/ObjectInstanceArray.msg',
        'srv/Locate.srv',
        'srv/SetAnchor.srv',
      ]),
    );
    expect(cmake).toMatch(/install\(DIRECTORY launch config DESTINATION share\/\$\{PROJECT_NAME\}\)/);
    expect(cmake).toMatch(/dist" DESTINATION share/);
    expect(cmake).toMatch(/package\.json" DESTINATION share/);
    expect(cmake).toMatch(/node_modules" DESTINATION share/);
    expect(cmake).toMatch(/install\(PROGRAMS scripts\/declip_node DESTINATION lib\/\$\{PROJECT_NAME\}\)/);
    expect(cmake).toMatch(/ament_package\(\)/);
    const wrapper = read('scripts/declip_node');
    expect(wrapper.startsWith('#!/usr/bin/env bash')).toBe(true);
    expect(wrapper).toMatch(/dist\/node\/main\.js" "\$@"/);
    expect(fs.statSync(path.join(ROS, 'scripts/declip_node')).mode & 0o111).not.toBe(0);
  });

  it('every field type in ros/msg and ros/srv resolves to a primitive, a sibling or a declared dependency', () => {
    const files = interfaceFiles();
    const own = new Set(files.filter((f) => f.startsWith('msg/')).map((f) => path.basename(f, '.msg')));
    const declared = new Set(tag(read('package.xml'), 'depend'));
    for (const f of files) {
      const lines = read(f).split('\n');
      let separators = 0;
      for (const raw of lines) {
        const line = raw.replace(/#.*$/, '').trim();
        if (line === '') continue;
        if (line === '---') {
          separators++;
          continue;
        }
        const m = /^([A-Za-z0-9_/]+)(\[\d*\]|\[<=\d+\])?(<=\d+)?\s+([a-z][a-z0-9_]*)(\s*=.*|\s+.*)?$/.exec(
          line,
        );
        if (!m) throw new Error(`${f}: cannot parse field line '${raw}'`);
        const base = m[1];
        if (PRIMITIVES.has(base)) continue;
        if (base.includes('/')) {
          expect({ file: f, type: base, known: EXTERNAL_TYPES.has(base) }).toEqual({
            file: f,
            type: base,
            known: true,
          });
          expect(declared.has(base.split('/')[0])).toBe(true);
        } else {
          expect({ file: f, type: base, own: own.has(base) }).toEqual({ file: f, type: base, own: true });
        }
      }
      if (f.startsWith('srv/')) expect(separators).toBe(1);
    }
  });

  it('launch files parse with python3 ast and XML, and take the documented arguments', () => {
    for (const f of ['launch/declip.launch.py', 'launch/replay.launch.py']) {
      const file = path.join(ROS, f);
      execFileSync('python3', [
        '-c',
        'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])',
        file,
      ]);
      expect(read(f)).toMatch(/def generate_launch_description\(\):/);
    }
    const main = read('launch/declip.launch.py');
    for (const a of [
      'camera_namespace',
      'color_topic',
      'depth_topic',
      'params_file',
      'model_path',
      'device',
      'use_sim_time',
    ]) {
      expect(main).toContain(`DeclareLaunchArgument('${a}'`);
    }
    const replay = read('launch/replay.launch.py');
    expect(replay).toMatch(/'ros2', 'bag', 'play', bag, '--clock'/);
    expect(replay).toMatch(/'use_sim_time': 'true'/);
    const xml = read('launch/declip.launch.xml');
    expect(xml).toMatch(/<node pkg="declip_ros" exec="declip_node"/);
    for (const a of ['camera_namespace', 'params_file', 'model_path', 'device', 'use_sim_time']) {
      expect(xml).toContain(`<arg name="${a}"`);
    }
    execFileSync('python3', [
      '-c',
      'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])',
      path.join(ROS, 'launch/declip.launch.xml'),
    ]);
  });

  it('the RViz config is YAML that shows the node outputs', () => {
    const rviz = yaml.load(read('config/declip.rviz')) as {
      'Visualization Manager': { Displays: { Topic?: { Value: string } }[] };
    };
    const topics = rviz['Visualization Manager'].Displays.map((d) => d.Topic?.Value).filter(Boolean);
    expect(topics).toEqual(
      expect.arrayContaining(['/declip_node/markers', '/declip_node/mask', '/declip_node/points']),
    );
  });
});

describe('ROS command line and environment', () => {
  it('parses --ros-args -p, --params-file, -r, __ns and __node', () => {
    const files: Record<string, string> = {
      'p.yaml': 'declip_node:\n  ros__parameters:\n    device: cpu\n    max_instances: 4\n',
    };
    const a = parseRosArgs(
      [
        'extra',
        '--ros-args',
        '-p',
        'queries:=red mug, bowl',
        '-p',
        'score_threshold:=0.3',
        '--params-file',
        'p.yaml',
        '-r',
        'camera/color/image_raw:=/cam/rgb',
        '-r',
        '__ns:=/robot',
        '-r',
        '__node:=finder',
        '--log-level',
        'debug',
        '--',
        'tail',
      ],
      (p) => files[p],
    );
    expect(a.params).toEqual({
      queries: 'red mug, bowl',
      score_threshold: 0.3,
      device: 'cpu',
      max_instances: 4,
    });
    expect(a.remaps).toEqual({ 'camera/color/image_raw': '/cam/rgb' });
    expect(a.namespace).toBe('/robot');
    expect(a.nodeName).toBe('finder');
    expect(a.rest).toEqual(['extra', 'tail']);
    expect(() => parseRosArgs(['--ros-args', '-p', 'score_threshold:=7'])).toThrow(
      /score_threshold.*\[0, 1\]/,
    );
    expect(() => parseRosArgs(['--ros-args', '-p', 'oops'])).toThrow(/name:=value/);
  });

  it('without a sourced ROS 2 environment rclnodejs is not loaded and the error says how to fix it', async () => {
    expect(rosEnvironmentAvailable({})).toBe(false);
    expect(rosEnvironmentAvailable({ ROS_DISTRO: 'jazzy', AMENT_PREFIX_PATH: '/opt/ros/jazzy' })).toBe(true);
    await expect(loadRclnodejsRuntime({})).rejects.toThrow(RosEnvironmentError);
    await expect(loadRclnodejsRuntime({ ROS_DISTRO: 'humble' })).rejects.toThrow(
      /source \/opt\/ros\/<distro>\/setup\.bash, then colcon build the ros\/ package/,
    );
  });
});
