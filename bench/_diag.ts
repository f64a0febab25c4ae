import { openBag } from '../src/bag/bag';
import { decodeMessage } from '../src/bag/codecs';
import { imageToRgb } from '../src/bag/image';
import { Perceiver } from '../src/perception/perceiver';
async function main() {
  const bag = await openBag('test/bags/demo');
  const p = await Perceiver.load('models/tiny-synth', { device: 'cpu', ...(process.env.BG !== undefined ? { backgroundPrompts: process.env.BG ? process.env.BG.split(',') : [] } : {}) });
  const queries = (process.env.Q ?? 'red mug,blue can').split(',');
  let rgb: any = null; let inst: any = null; let objs: any = null; let f = 0;
  for await (const m of bag.messages()) {
    if (m.topic === '/camera/color/image_raw') rgb = imageToRgb(decodeMessage(m.type, m.data));
    if (m.topic === '/ground_truth/instance_mask') inst = decodeMessage(m.type, m.data);
    if (m.topic === '/ground_truth/objects') objs = decodeMessage(m.type, m.data);
    if (rgb && inst && objs) {
      if (f % 4 === 0) {
        const r = await p.segment(rgb, queries);
        const ids = inst.encoding === 'mono16' || inst.encoding === '16UC1' ? new Uint16Array(inst.data.buffer, inst.data.byteOffset, inst.data.length / 2) : inst.data;
        const caps = objs.objects.map((o: any) => o.caption + '#' + (o.instance_id ?? o.id ?? '?'));
        if (f === 0) console.log('objects', caps.join(' | '), Object.keys(objs.objects[0]));
        for (let qi = 0; qi < queries.length; qi++) {
          const ob = objs.objects.findIndex((o: any) => o.caption.includes(queries[qi]));
          const idv = objs.objects[ob]?.mask_value;
          let gt = 0, inter = 0, area = 0, sIn = 0;
          for (let i = 0; i < ids.length; i++) {
            const g = ids[i] === idv; const mm = r.masks[qi][i] === 1;
            if (g) { gt++; sIn += r.scoreMaps[qi][i]; }
            if (mm) area++;
            if (g && mm) inter++;
          }
          console.log(`frame ${f} ${queries[qi]}: gt ${gt} px, mask ${area}, inter ${inter}, mean score in gt ${(sIn / Math.max(gt, 1)).toFixed(3)}`);
        }
      }
      rgb = inst = objs = null; f++;
    }
  }
  await bag.close();
}
main();
