/**
 * The place: a location → a coarse world region → a soft prior over species (never zero:
 * escaped pets, zoos and dogs exist), and the species that would be unexpected there.
 */
import type { Presence, RegionId, Species } from '../species.js';

export interface GeoPoint {
  lat: number;
  lng: number;
}

/**
 * The coarse region of a point, or null (open ocean, Antarctica). Boxes, first match wins:
 * the Americas split at 14.5° N (southern Mexico); Europe from Iceland to the Urals (60° E north
 * of 45° N, 45° E south of it: the Caucasus and Anatolia count as Europe); the African shore of
 * the Mediterranean is cut from Europe's along the Strait of Gibraltar and the Sicily channel;
 * Arabia and the Levant are Asia; Australia, New Zealand and the Pacific are Oceania. Coarse on
 * purpose: a species' range is given per region, and the prior never forbids anything.
 */
export function regionOf(point: GeoPoint): RegionId | null {
  const { lat, lng } = point;
  if (!Number.isFinite(lat) || !Number.isFinite(lng) || Math.abs(lat) > 90 || Math.abs(lng) > 180)
    return null;
  if (lat < -60) return null;
  if (lng >= -170 && lng <= -50 && lat >= 14.5) return 'north-america';
  if (lng >= -120 && lng <= -30 && lat < 14.5) return 'latin-america';
  if (lng < -170 || lng > 165 || (lat < -10 && lng > 110)) return lat < 0 ? 'oceania' : null;
  if (isAfrica(lat, lng)) return 'africa';
  if (lng >= -30 && lat >= 34 && lat <= 82 && lng <= (lat >= 45 ? 60 : 45)) return 'europe';
  if (lng > 25 && lat >= -11) return 'asia';
  return null;
}

function isAfrica(lat: number, lng: number): boolean {
  if (lat < -36 || lng < -26 || lng > 52) return false;
  // Arabia, the Levant and Sinai's east are Asia.
  if ((lng > 43 && lat > 11) || (lng > 34.9 && lat > 20) || (lng > 34.3 && lat > 29.5))
    return false;
  // The Mediterranean shore: Morocco below Gibraltar, Algeria and Tunisia below 37.4° N
  // (Spain's coast at those longitudes is north of it), Libya and Egypt below 33.5° N.
  if (lng < -1.5) return lat < 35.95;
  if (lng < 11.5) return lat < 37.4;
  return lat < 33.5;
}

/**
 * Prior weight of a species by presence. A species absent from a region keeps a small weight:
 * a pet, an escaped or zoo animal, a mislabelled range. A "local" one lives in parts of the
 * region, and a coarse region cannot tell whether the hiker is in those parts: it is barely
 * lowered (measured: 0.5 cost crops a point of top-1 for nothing on field photos).
 */
export const PRESENCE_WEIGHT: Record<Presence, number> = {
  widespread: 1,
  local: 0.8,
  absent: 0.03,
};

/** The prior weight of each species (catalogue order) at a region; all 1 without a region. */
export function rangePrior(species: Species[], region: RegionId | null): number[] {
  return species.map((s) => (region ? PRESENCE_WEIGHT[s.range.regions[region]] : 1));
}

/** The given species absent from the wild at that region (none without a region). */
export function unexpectedAt(
  speciesIds: string[],
  species: Species[],
  region: RegionId | null,
): string[] {
  if (!region) return [];
  return speciesIds.filter(
    (id) => species.find((s) => s.id === id)?.range.regions[region] === 'absent',
  );
}
