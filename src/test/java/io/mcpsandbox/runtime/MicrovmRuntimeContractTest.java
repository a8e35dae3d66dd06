package io.mcpsandbox.runtime;

import io.mcpsandbox.testing.SystemTest;

/** The runtime contract on microvm: a QEMU microVM per sandbox (TCG on this machine). */
@SystemTest
class MicrovmRuntimeContractTest extends SandboxRuntimeContract {
    @Override
    protected String runtimeName() {
        return "microvm";
    }
}
