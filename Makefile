# usbphone: `make run` sets up and starts the phone; `make test` sets up and runs the whole test suite.
.PHONY: setup setup-test run test lint bench clean

setup:
	tools/setup.sh run

setup-test:
	tools/setup.sh test

run: setup
	.venv/bin/usbphone run $(ARGS)

test: setup-test
	.venv/bin/ruff check usbphone tests tools
	.venv/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: setup-test
	.venv/bin/ruff check usbphone tests tools

bench: setup-test
	tools/bench $(ARGS)
	.venv/bin/python tools/bench_audio.py

clean:
	rm -rf .venv

# The real-kernel appliance test alone (QEMU, TCG): builds/caches the image in .cache/vm, boots, prints RESULT lines.
.PHONY: test-vm
test-vm: setup-test
	.venv/bin/python tools/vm/vmtest.py $(VM_ARGS)
