package weir.nexmark.flink;

import java.io.IOException;
import java.nio.file.Path;
import weir.nexmark.NexmarkConfig;

/** Test access to the Runner's package-private pieces. */
public final class RunnerAccess {
    private RunnerAccess() {}

    public static void dumpEvents(NexmarkConfig c, Path dir) throws IOException {
        Runner.dumpEvents(c, dir);
    }
}
