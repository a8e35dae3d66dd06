package io.mcpsandbox.runtime.version;

/** Software a sandbox's isolation rests on, whose version we check. */
public enum Component {
    RUNC("runc"),
    GVISOR("gVisor (runsc)"),
    DOCKER("Docker Engine");

    private final String label;

    Component(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
