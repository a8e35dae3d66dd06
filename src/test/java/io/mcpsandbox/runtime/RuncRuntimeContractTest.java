package io.mcpsandbox.runtime;

import io.mcpsandbox.testing.SystemTest;

/** The runtime contract on runc. */
@SystemTest
class RuncRuntimeContractTest extends SandboxRuntimeContract {
    @Override
    protected String runtimeName() {
        return "runc";
    }
}
