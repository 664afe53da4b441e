// Placeholder admin home: shows the backend health (through the Hosting rewrite to the
// `health` function) and the species drawings shipped with the site.
const SPECIES = [
  ['castor', 'Castor'],
  ['chat', 'Chat forestier'],
  ['chien', 'Chien'],
  ['coyote', 'Coyote'],
  ['ecureuil', 'Écureuil roux'],
  ['lapin', 'Lapin de garenne'],
  ['loup', 'Loup gris'],
  ['lynx', 'Lynx boréal'],
  ['ours', 'Ours brun'],
  ['puma', 'Puma'],
  ['rat', 'Rat surmulot'],
  ['raton-laveur', 'Raton laveur'],
  ['renard', 'Renard roux'],
];

const list = document.getElementById('species');
for (const [id, name] of SPECIES) {
  const item = document.createElement('li');
  const img = document.createElement('img');
  img.src = `/species/${id}.svg`;
  img.alt = `Empreinte : ${name}`;
  img.width = 120;
  img.height = 120;
  item.append(img);
  list.append(item);
}

const health = document.getElementById('health');
fetch('/api/health')
  .then(async (res) => {
    const body = await res.json();
    const mode =
      body.mode.runtime === 'emulator' ? `émulateurs (${body.mode.stack})` : 'production';
    health.textContent =
      `${res.ok ? 'Opérationnel' : 'Dégradé'} — version ${body.version}, ${mode}, ` +
      `${body.firestore.speciesCount ?? '?'} espèces, modèle actif : ${body.model.active ?? 'aucun'}.`;
  })
  .catch(() => {
    health.textContent = 'Service injoignable : les fonctions sont-elles démarrées ?';
  });
