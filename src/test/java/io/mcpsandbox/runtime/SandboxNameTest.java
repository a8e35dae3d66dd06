package io.mcpsandbox.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** A sandbox's name and its execution id map both ways; names that are not ours map to none. */
class SandboxNameTest {

    @Test
    void theExecutionIdComesBackOutOfItsSandboxName() {
        String id = "2f1c9a4e-7b55-4d8e-9a0b-3c6d1e2f4a5b";
        assertThat(SandboxSpec.executionIdOf(SandboxSpec.nameFor(id))).contains(id);
        assertThat(SandboxSpec.executionIdOf("someone-elses-container")).isEmpty();
        assertThat(SandboxSpec.executionIdOf("xmcp-exec-1")).as("the prefix only at the start").isEmpty();
    }
}
