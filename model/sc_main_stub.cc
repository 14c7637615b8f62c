// libsystemc.so references sc_main. kvmsim drives SystemC from its own main() (and from
// Python), so this definition exists only to satisfy that reference.
extern "C" int sc_main(int, char**) { return 0; }
