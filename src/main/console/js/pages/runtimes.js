// Runtimes (usable or why not, advisories) and images (digests, sizes, scan findings).

import {json} from '../api.js';
import {append, bytes, el, showError, table, when} from '../text.js';

function yes(b) {
  return el('span', {className: b ? 'ok' : 'bad', 'data-test': b ? 'usable' : 'unusable'}, b ? 'yes' : 'no');
}

function advisories(r) {
  const list = Array.isArray(r.advisories) ? r.advisories : [];
  if (list.length === 0) {
    return 'none known';
  }
  return el('details', null, el('summary', null, list.length + ' advisories' + (r.knownVulnerable
    ? ', known vulnerable' : '')), el('ul', null, list.map((a) => el('li', null,
    a.id, ' (', a.component, ' ', a.version, ', ', a.status, a.blocking ? ', blocking' : '', '): ', a.summary,
    a.fixedIn ? ' fixed in ' + a.fixedIn : ''))));
}

function findings(scan) {
  if (!scan) {
    return 'not scanned';
  }
  const list = Array.isArray(scan.findings) ? scan.findings : [];
  const head = (scan.critical || 0) + ' critical, ' + (scan.high || 0) + ' high'
    + (scan.analysed === false ? ' (nothing the scanner could analyse: not a clean bill)' : '');
  if (list.length === 0) {
    return el('span', null, head, ' (', when(scan.scannedAt), ')');
  }
  return el('details', null, el('summary', null, head + ', ' + list.length + ' findings'),
    el('ul', null, list.slice(0, 200).map((f) => el('li', null, typeof f === 'object' && f !== null
      ? [f.id || f.vulnerabilityId || '', ' ', f.severity || '', ' ', f.pkg || f.package || f.pkgName || '',
        ' ', f.installed || f.installedVersion || '', f.fixed || f.fixedVersion ? ' fixed in '
          + (f.fixed || f.fixedVersion) : '', f.title ? ': ' + f.title : '']
      : String(f)))));
}

export async function render(main, ctx) {
  const runtimesBox = el('div', {id: 'runtimes'});
  const imagesBox = el('div', {id: 'images'});
  append(main, [el('h1', null, 'Runtimes'), runtimesBox, el('h1', null, 'Images'), imagesBox]);
  const [r, i] = await Promise.allSettled([json('/v1/runtimes'), json('/v1/images')]);
  if (!ctx.alive()) {
    return null;
  }
  if (r.status === 'fulfilled') {
    const list = Array.isArray(r.value.runtimes) ? r.value.runtimes : [];
    append(runtimesBox, [table('runtime-table', ['runtime', 'usable', 'version', 'why not', 'levels',
      'advisories'], list.map((x) => [el('td', {'data-test': 'runtime-name'}, x.name), yes(x.usable === true),
      x.version, el('td', {className: 'desc'}, x.reason), Array.isArray(x.levels) ? x.levels.join(', ') : '',
      advisories(x)]), 'No runtimes.')]);
  } else {
    showError(runtimesBox, r.reason);
  }
  if (i.status === 'fulfilled') {
    const list = Array.isArray(i.value.images) ? i.value.images : [];
    append(imagesBox, [el('p', {className: 'count', 'data-test': 'scanner'}, 'scanner: ', i.value.scanner),
      table('image-table', ['image', 'kind', 'digest', 'size', 'unpacked', 'scan'], list.map((x) => [
        el('td', {className: 'mono', 'data-test': 'image-name'}, x.name), x.kind,
        el('td', {className: 'mono digest'}, x.digest), el('td', {className: 'num'}, bytes(x.sizeBytes)),
        x.unpacked == null ? '' : String(x.unpacked), findings(x.scan)]), 'No images.')]);
  } else {
    showError(imagesBox, i.reason);
  }
  return null;
}
