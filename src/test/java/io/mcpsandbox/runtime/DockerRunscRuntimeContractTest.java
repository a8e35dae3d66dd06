package io.mcpsandbox.runtime;

import io.mcpsandbox.testing.SystemTest;

/** The runtime contract on docker-runsc. */
@SystemTest
class DockerRunscRuntimeContractTest extends SandboxRuntimeContract {
    @Override
    protected String runtimeName() {
        return "docker-runsc";
    }
}
