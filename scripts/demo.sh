#!/usr/bin/env bash
# `make demo`: the whole pipeline on embedded sample data (nothing is downloaded):
#   datagen (every generator) -> check -> train the tiny learned models briefly -> bench with all
#   methods -> Bradley-Terry scores of a study simulated from known strengths.
# Re-running resumes: finished items are kept, finished checkpoints are reused (--resume at the same
# --steps is a no-op), outputs the demo owns are replaced (--overwrite). Training runs a fixed number of
# steps (no time limit), so the numbers are the same on any machine of this kind, loaded or not; they are
# written to $OUT/demo_numbers.json, which `python scripts/readme_numbers.py --check` compares with README.
set -euo pipefail
OUT="${1:-demo_out}"
H="$(pwd)/.venv/bin/harmony"
mkdir -p "$OUT"
export MPLBACKEND=Agg
export HARMONY_CACHE="${HARMONY_CACHE:-$PWD/$OUT/cache}"
start=$(date +%s)
step() { echo; echo "=== $* (t=$(( $(date +%s) - start )) s)"; }

step "1. datasets in the iHarmony4 layout, from the embedded sample data"
$H datagen coco --out "$OUT/data"
$H datagen fivek --out "$OUT/data" --per-mask 3
$H datagen day2night --out "$OUT/data"
$H datagen retouched --out "$OUT/data"
$H datagen flickr --out "$OUT/data"
$H datagen real --out "$OUT/data" --pairs 8
$H datagen rendered --out "$OUT/data"
$H check "$OUT/data"

step "2. train the tiny presets of the learned models briefly (CPU)"
# The paired subsets the generators made (the rendered set is for CharmNet; real composites have no
# ground truth). The tiny presets see about 80 training pairs: enough to show the pipeline end to end,
# far too few for the papers' results (those need iHarmony4-scale data and a GPU).
PAIRED=HCOCO,HAdobe5k,Hday2night,HFlickr,HRetouched
STEPS=300 SPRIH_STEPS=100 CHARMNET_STEPS=150
for m in dih bargainnet rcl; do
  $H train $m --data "$OUT/data" --subsets $PAIRED --preset ${m}_tiny --out "$OUT/checkpoints/$m" \
     --steps $STEPS --resume
done

# SPRIH: stream 1 on the retouched pairs, stream 2 (adversarial) on the real composites;
# CharmNet: real pairs + rendered pairs with soft style labels.
$H train sprih --data "$OUT/data" --subsets HRetouched --unpaired "$OUT/data" --preset sprih_tiny \
   --out "$OUT/checkpoints/sprih" --steps $SPRIH_STEPS --resume
$H train charmnet --data "$OUT/data" --subsets HRetouched --rendered "$OUT/data" --preset charmnet_tiny \
   --out "$OUT/checkpoints/charmnet" --steps $CHARMNET_STEPS --resume
# SPRIH's parameters are its product: export them, then re-apply them (editable curves + shading map).
C="$OUT/data/HRetouched/composite_images/tastronaut-before_1_1.jpg"
M="$OUT/data/HRetouched/masks/tastronaut-before_1.png"
$H harmonize --method sprih --weights "$OUT/checkpoints" --composite "$C" --mask "$M" \
   --out "$OUT/sprih/astronaut.png" --export-params "$OUT/sprih/params"
$H apply-params "$OUT/sprih/params" --composite "$C" --mask "$M" --out "$OUT/sprih/astronaut_reapplied.png" \
   --overwrite

step "3. benchmark every method (baselines + learned models with checkpoints) under the iharm protocol"
$H bench --data "$OUT/data" --subsets $PAIRED --models all --weights "$OUT/checkpoints" --out "$OUT/bench"

step "4. Bradley-Terry scores of a 2AFC study simulated from known strengths"
ST="ours=0.8,harmonizer=0.4,iht=0.3,dovenet=0,composite=-0.9"
$H study simulate --strengths "$ST" --images 100 --raters 200 --votes-per-rater 50 \
   --sentinels-per-rater 10 --spammers 10 --seed 3 --out "$OUT/study/votes.csv" --overwrite
$H bt-score "$OUT/study/votes.csv" --truth "$ST" --out "$OUT/study/bt" --overwrite

# The numbers README's demo paragraph shows (make demo compares them: scripts/readme_numbers.py --check).
"$(pwd)/.venv/bin/python" scripts/readme_numbers.py --collect "$OUT" \
   --steps "dih=$STEPS,bargainnet=$STEPS,rcl=$STEPS,sprih=$SPRIH_STEPS,charmnet=$CHARMNET_STEPS"

echo
echo "demo finished in $(( $(date +%s) - start )) s. Look at:"
echo "  $OUT/data/                    datasets (iHarmony4 layout, manifest.csv per subset)"
echo "  $OUT/bench/gallery.html       composite + mask outline | ground truth | every method (sortable, offline)"
echo "  $OUT/bench/significance.md    means with 95% intervals, best bold, not significantly worse marked (.tex, .csv)"
echo "  $OUT/bench/table.md           the benchmark table (also .csv .tex .json); figures (PDF+PNG): $OUT/bench/plots/"
echo "  $OUT/study/bt/                Bradley-Terry scores, intervals, plot"
echo "  $OUT/demo_numbers.json         the numbers README's demo paragraph shows"
