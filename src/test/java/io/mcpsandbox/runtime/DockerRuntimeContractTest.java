package io.mcpsandbox.runtime;

import io.mcpsandbox.testing.SystemTest;

/** The runtime contract on docker. */
@SystemTest
class DockerRuntimeContractTest extends SandboxRuntimeContract {
    @Override
    protected String runtimeName() {
        return "docker";
    }
}
