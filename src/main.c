// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>

#include "cli.h"
#include "exec/exec.h"
#include "kvmrun/vm.h"

int main(int argc, char **argv)
{
	char cmdline[CLI_CMDLINE_MAX];
	struct exec_config ec;
	struct vm_config cfg;
	struct vm *vm;
	int status;

	switch (cli_parse_cmd(argc, argv, &cfg, &ec, cmdline, sizeof(cmdline), stdout, stderr)) {
	case CLI_EXIT_OK:
		return KVMRUN_OK;
	case CLI_EXIT_USAGE:
		return ec.enabled ? KVMRUN_EXEC_FAILED : KVMRUN_ERR_USAGE;
	case CLI_EXEC:
		log_set_level(cfg.log_level);
		return exec_main(&cfg, &ec, argc, argv);
	case CLI_RUN:
		break;
	}
	log_set_level(cfg.log_level);
	status = vm_create(&vm, &cfg);
	if (status)
		return status;
	status = vm_run(vm);
	vm_destroy(vm);
	return status;
}
