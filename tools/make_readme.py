"""Write README.md from nbs/index.ipynb (Quarto, which nbdev_readme needs, cannot be installed offline).

Markdown cells are copied; code cells become ```python blocks; `#| hide` cells and `#|` directive
lines are dropped; outputs are left out. `--check` exits 1 if README.md differs from what it would write.
`--test-command` prints the README's test command (the line after `# 2.`), which CI runs as written.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n'


def render(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    cells = json.loads(Path(nb_path).read_text())['cells']
    parts = []
    for c in cells:
        src = ''.join(c['source']).strip('\n')
        lines = src.splitlines()
        if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
        if c['cell_type'] == 'markdown': parts.append(src)
        elif c['cell_type'] == 'code':
            code = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
            if code: parts.append(f"```python\n{code}\n```")
    return HEADER + '\n\n'.join(parts) + '\n'


def test_command(text: str) -> str:
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if l.strip().startswith('# 2.'): return lines[i + 1].strip()
    sys.exit('README.md has no "# 2." line followed by the test command')


if __name__ == '__main__':
    readme = ROOT / 'README.md'
    if '--test-command' in sys.argv: print(test_command(readme.read_text()))
    elif '--check' in sys.argv:
        if readme.read_text() != render():
            sys.exit('README.md is stale: run `python tools/make_readme.py` and commit it')
        print('README.md is up to date')
    else:
        readme.write_text(render()); print(f'wrote {readme}')
