/** Named colours, simple procedural textures and text captions of synthetic objects. */
import type { Category } from './mesh';
import { Rng } from './rng';

/** Colour names usable in captions, with their sRGB albedo (0..255). */
export const PALETTE = {
  red: [200, 30, 35],
  green: [40, 150, 60],
  blue: [35, 70, 190],
  yellow: [235, 205, 40],
  orange: [240, 125, 25],
  purple: [120, 50, 160],
  white: [235, 235, 230],
  black: [22, 22, 24],
  grey: [128, 128, 128],
  brown: [120, 75, 40],
  pink: [240, 130, 170],
  cyan: [40, 190, 210],
} as const satisfies Record<string, readonly [number, number, number]>;

/** A colour name from PALETTE. */
export type ColourName = keyof typeof PALETTE;

/** All colour names. */
export const COLOUR_NAMES = Object.keys(PALETTE) as ColourName[];

/** Procedural texture kinds. */
export type TextureKind = 'plain' | 'stripes' | 'label' | 'checker';

/** All texture kinds. */
export const TEXTURE_KINDS: readonly TextureKind[] = ['plain', 'stripes', 'label', 'checker'];

/** Surface appearance of one object. Textures are functions of the object-frame point (metres). */
export interface Material {
  colour: ColourName;
  rgb: [number, number, number];
  /** Second colour of stripes / label / checker (equals `colour` for plain). */
  secondaryColour: ColourName;
  secondaryRgb: [number, number, number];
  texture: TextureKind;
  /** Stripe period along z or checker cell size (metres). */
  periodM: number;
  /** Label band [z0, z1] in metres (texture 'label'). */
  labelZM: [number, number];
  /** Specular strength 0..1 (Blinn-Phong); shiny surfaces lose depth under highlights. */
  specular: number;
  /** Blinn-Phong exponent. */
  shininess: number;
}

/** Colours that read well as a contrast to `c` (used for the secondary colour). */
function contrastColours(c: ColourName): ColourName[] {
  const dark = c === 'black' || c === 'brown' || c === 'blue' || c === 'purple';
  return COLOUR_NAMES.filter(
    (n) => n !== c && (dark ? n === 'white' || n === 'yellow' || n === 'orange' || n === 'cyan' : true),
  );
}

/** Random material for an object of `category` whose z extent is `heightM` and largest extent `sizeM`. */
export function randomMaterial(
  category: Category,
  heightM: number,
  sizeM: number,
  rng: Rng,
  opts: { colour?: ColourName; texture?: TextureKind } = {},
): Material {
  const colour = opts.colour ?? rng.pick(COLOUR_NAMES);
  const texture = opts.texture ?? rng.pick(TEXTURE_KINDS);
  const secondaryColour = texture === 'plain' ? colour : rng.pick(contrastColours(colour));
  const base: Record<Category, number> = {
    can: 0.7,
    bottle: 0.45,
    mug: 0.35,
    bowl: 0.3,
    laptop: 0.25,
    camera: 0.2,
    box: 0.05,
  };
  const specular = Math.min(1, Math.max(0, base[category] + rng.uniform(-0.1, 0.1)));
  const z0 = heightM * rng.uniform(0.25, 0.4);
  const z1 = Math.min(heightM * 0.85, z0 + heightM * rng.uniform(0.25, 0.4));
  return {
    colour,
    rgb: [...PALETTE[colour]] as [number, number, number],
    secondaryColour,
    secondaryRgb: [...PALETTE[secondaryColour]] as [number, number, number],
    texture,
    periodM: texture === 'checker' ? sizeM / rng.int(4, 7) : heightM / rng.int(5, 9),
    labelZM: [z0, z1],
    specular,
    shininess: rng.uniform(20, 60),
  };
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

function withArticle(phrase: string): string {
  return `${article(phrase)} ${phrase}`;
}

/**
 * Text captions of one object (first is the canonical one, e.g. "a red mug", "a striped blue can",
 * "a yellow bottle with a white label", "a checkered green box"), then variants and the bare category.
 */
export function captionsFor(obj: { category: Category; material: Material }): string[] {
  const cat = obj.category;
  const c = obj.material.colour;
  const c2 = obj.material.secondaryColour;
  switch (obj.material.texture) {
    case 'plain':
      return [withArticle(`${c} ${cat}`), withArticle(`plain ${c} ${cat}`), `${c} ${cat}`, withArticle(cat)];
    case 'stripes':
      return [
        withArticle(`striped ${c} ${cat}`),
        withArticle(`${c} ${cat} with ${c2} stripes`),
        withArticle(`${c} and ${c2} striped ${cat}`),
        withArticle(cat),
      ];
    case 'label':
      return [
        withArticle(`${c} ${cat} with ${article(c2)} ${c2} label`),
        withArticle(`${c} ${cat}`),
        withArticle(`labelled ${cat}`),
        withArticle(cat),
      ];
    case 'checker':
      return [
        withArticle(`checkered ${c} ${cat}`),
        withArticle(`${c} and ${c2} checkered ${cat}`),
        withArticle(`${c} ${cat} with a ${c2} checker pattern`),
        withArticle(cat),
      ];
  }
}
