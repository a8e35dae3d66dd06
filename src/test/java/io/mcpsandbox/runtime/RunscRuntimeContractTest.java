package io.mcpsandbox.runtime;

import io.mcpsandbox.testing.SystemTest;

/** The runtime contract on runsc. */
@SystemTest
class RunscRuntimeContractTest extends SandboxRuntimeContract {
    @Override
    protected String runtimeName() {
        return "runsc";
    }
}
