# Every target creates the virtual environment on first use: torch is pinned and installed
# first (the CPU build on this machine's disk), then the project in editable mode.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LIFETIMES_WHEEL_DIR := data/cache
DEMO_DIR := demo
DEMO_CUSTOMERS ?= 20000
# pip does not byte-compile what it installs (--no-compile): compiling every file of torch, ray
# and transformers was about 90 s of a fresh set-up, and most of them are never imported.
# Python compiles a module on its first import and keeps the bytecode, so every recipe runs with
# that on whatever the caller's PYTHONDONTWRITEBYTECODE says (without it each process would
# compile torch's modules again).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-fast bench lint data clean browser serve

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile torch==2.13.0
	$(BIN)/pip install --quiet --no-compile -e '.[dev,web,ray]'
	touch $(STAMP)

# The browser the web page's tests drive (and that prints the PDF report): Debian's chromium,
# installed once where it is missing; Playwright drives it through its path and never
# downloads a browser of its own.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) && \
		echo "installed chromium"; }

# CDNOW ships inside the `lifetimes` wheel; we read the file out of the wheel, never import it.
data: $(STAMP)
	@ls $(LIFETIMES_WHEEL_DIR)/[Ll]ifetimes-*.whl >/dev/null 2>&1 || \
		$(BIN)/pip download --quiet --no-deps 'lifetimes==0.11.3' -d $(LIFETIMES_WHEEL_DIR)
	$(BIN)/ltv data cdnow --wheel-dir $(LIFETIMES_WHEEL_DIR) --out data/cdnow

demo: $(STAMP)
	$(BIN)/ltv data demo --customers $(DEMO_CUSTOMERS) --weeks 104 --seed 7 --out $(DEMO_DIR)/data
	$(BIN)/ltv validate --data $(DEMO_DIR)/data --store $(DEMO_DIR)/store.duckdb
	@as_of=$$($(BIN)/python -c "import pandas as p; t = p.Timestamp.today().normalize(); \
		print((t - p.Timedelta(days=t.day_of_week)).date())"); \
	echo "ltv weekly --scenario scenarios/base.yaml --as-of $$as_of"; \
	folder=$$($(BIN)/ltv weekly --scenario scenarios/base.yaml --as-of $$as_of \
		--data $(DEMO_DIR)/data --runs-dir $(DEMO_DIR)/runs | tee /dev/stderr | tail -1) && \
	echo "report: $$folder/report.html"

# Two worker processes, a test file each at a time (module fixtures are built once): the
# suite's slow tests wait on subprocesses, Ray and the browser as much as they compute, and
# on this two-core machine two workers took 554 s where one took about 740 (tests/conftest.py gives
# each worker one compute thread, and hands out the longest files first).
test: data browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

# The quick loop while developing: every test but those marked slow (tens of seconds each).
test-fast: data
	$(BIN)/python -m pytest -q -m "not slow"

bench: data browser
	$(BIN)/python bench/screens.py --out docs/screens
	$(BIN)/python bench/cdnow_backtest.py --data data/cdnow --json bench/results/cdnow_bgnbd.json
	$(BIN)/python bench/cdnow_backtest.py --data data/cdnow --model ziln --json bench/results/cdnow_ziln.json
	$(BIN)/python bench/cdnow_backtest.py --data data/cdnow --model sequence \
		--json bench/results/cdnow_sequence.json
	$(BIN)/python bench/cdnow_totals.py --data data/cdnow --json bench/results/cdnow_totals.json
	test -f $(DEMO_DIR)/data/transactions.parquet || $(BIN)/ltv data demo \
		--customers $(DEMO_CUSTOMERS) --weeks 104 --seed 7 --out $(DEMO_DIR)/data
	test -f $(DEMO_DIR)/data100k/transactions.parquet || $(BIN)/ltv data demo \
		--customers 100000 --weeks 104 --seed 7 --out $(DEMO_DIR)/data100k
	$(BIN)/python bench/forecast_throughput.py --data $(DEMO_DIR)/data100k \
		--json bench/results/forecast_throughput.json
	$(BIN)/python bench/saved_model_reuse.py --data $(DEMO_DIR)/data100k \
		--json bench/results/saved_model_reuse.json
	$(BIN)/python bench/review_ablation.py --data $(DEMO_DIR)/data \
		--review-cache $(DEMO_DIR)/review_embeddings.duckdb --json bench/results/review_ablation.json
	$(BIN)/python bench/soak.py --scenarios 20 --weeks 5 --customers 5000 --parallel 4 \
		--json bench/results/soak.json
	$(BIN)/python bench/demo_calibration.py --customers $(DEMO_CUSTOMERS) --seed 7 \
		--json bench/results/demo_calibration.json
	$(BIN)/python bench/evaluate_presets.py --presets default responsive null retention \
		deal_seekers mixed --seeds 0 1 2 --models baseline ziln --customers 20000 \
		--work $(DEMO_DIR)/presets --json bench/results/evaluate_presets.json \
		--markdown bench/results/evaluate_presets.md
	$(BIN)/python bench/evaluate_seeds.py scenarios/base.yaml scenarios/base_deep.yaml \
		--seeds 0 1 2 3 4 5 --data $(DEMO_DIR)/data --runs-dir $(DEMO_DIR)/runs \
		--json bench/results/evaluate_seeds.json
	$(BIN)/python bench/no_action_level.py $$(for p in null retention mixed deal_seekers; do \
		echo "$$(ls -td $(DEMO_DIR)/presets/runs/$${p}_0_baseline-* | head -1):$(DEMO_DIR)/presets/$${p}_0/data"; \
		done) --json bench/results/no_action_level.json
	$(BIN)/python bench/fatigue_windows.py $(DEMO_DIR)/presets/responsive_1/data \
		--json bench/results/fatigue_windows_responsive1.json
	rm -rf $(DEMO_DIR)/tier_shop && $(BIN)/python bench/tier_shop.py write $(DEMO_DIR)/tier_shop
	$(BIN)/ltv weekly --scenario bench/tier_shop.yaml --as-of 2026-11-30 \
		--data $(DEMO_DIR)/tier_shop/data --runs-dir $(DEMO_DIR)/tier_shop/runs
	$(BIN)/python bench/tier_shop.py lifts $(DEMO_DIR)/tier_shop \
		$$(ls -td $(DEMO_DIR)/tier_shop/runs/tier_shop-* | head -1)
	$(BIN)/python bench/forecast_set_speed.py --customers 20000 --json bench/results/forecast_set_speed.json
	$(BIN)/python bench/forecast_set_speed.py --customers 100000 --json bench/results/forecast_set_speed_100k.json
	for n in 1000 3000 10000; do \
		$(BIN)/python bench/solver_scale.py --customers $$n --backend highs --time-limit 300 \
			--json bench/results/solver_scale_highs_$$n.json; \
		$(BIN)/python bench/solver_scale.py --customers $$n --backend highs --no-warm-start \
			--time-limit 300 --json bench/results/solver_scale_highs_cold_$$n.json; \
	done
	for n in 1000 3000 10000 100000 1000000; do \
		$(BIN)/python bench/solver_scale.py --customers $$n --backend lagrangian \
			--json bench/results/solver_scale_lagrangian_$$n.json; \
	done
	for n in 100000 1000000; do \
		$(BIN)/python bench/solver_scale.py --customers $$n --backend lagrangian --policies \
			--json bench/results/solver_scale_lagrangian_policies_$$n.json; \
	done
	for n in 100000 1000000; do \
		$(BIN)/python bench/solver_scale.py --customers $$n --backend lagrangian --engine ray \
			--shards 4 --json bench/results/solver_scale_lagrangian_ray4_$$n.json; \
	done
	$(BIN)/python bench/solver_scale.py --customers 10000000 --backend lagrangian \
		--time-limit 1800 --json bench/results/solver_scale_lagrangian_10000000.json
	for engine in local ray; do \
		$(BIN)/python bench/recommendation_rounds.py --customers 1000000 --engine $$engine \
			--shards 4 --json bench/results/recommendation_rounds_1000000_$$engine.json; \
	done
	for n in 100000 1000000; do \
		$(BIN)/python bench/scale.py --customers $$n --work $(DEMO_DIR)/scale \
			--json bench/results/scale_$${n}_local.json; \
	done
	for backend in highs ortools pyomo; do \
		$(BIN)/python bench/solver_scale.py --customers 200 --backend $$backend \
			--json bench/results/solver_scale_$${backend}_200.json; \
	done

lint: $(STAMP)
	$(BIN)/ruff check shopdata markets engine forecasting optimization tests bench
	$(BIN)/ruff format --check shopdata markets engine forecasting optimization tests bench

clean:
	rm -rf $(VENV) data demo runs
