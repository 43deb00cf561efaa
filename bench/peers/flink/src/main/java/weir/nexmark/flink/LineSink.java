package weir.nexmark.flink;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.atomic.LongAdder;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

/**
 * Result rows, one per line, as weir_sink_file writes them: at parallelism 1 into PATH, at
 * parallelism p > 1 into PATH/part-0 .. part-(p-1). With no path the rows are only counted (a
 * discarding sink). Not transactional: a failed job leaves what it wrote. The count is a static
 * counter, which works because the job runs in this JVM (MiniCluster).
 */
public class LineSink implements Sink<String> {
    private static final long serialVersionUID = 1L;

    /** Rows written by all writers of this JVM since the last reset. */
    public static final LongAdder ROWS = new LongAdder();

    private final String path;
    private final int parallelism;

    public LineSink(String path, int parallelism) {
        this.path = path;
        this.parallelism = parallelism;
    }

    @Override
    public SinkWriter<String> createWriter(WriterInitContext ctx) throws IOException {
        int subtask = ctx.getTaskInfo().getIndexOfThisSubtask();
        if (path == null) {
            return new Writer(null);
        }
        Path p = Paths.get(path);
        if (parallelism > 1) {
            Files.createDirectories(p);
            p = p.resolve("part-" + subtask);
        } else if (p.getParent() != null) {
            Files.createDirectories(p.getParent());
        }
        return new Writer(Files.newBufferedWriter(p, StandardCharsets.UTF_8));
    }

    static final class Writer implements SinkWriter<String> {
        private final BufferedWriter out;

        Writer(BufferedWriter out) {
            this.out = out;
        }

        @Override
        public void write(String row, Context ctx) throws IOException {
            ROWS.increment();
            if (out != null) {
                out.write(row);
                out.write('\n');
            }
        }

        @Override
        public void flush(boolean endOfInput) throws IOException {
            if (out != null) {
                out.flush();
            }
        }

        @Override
        public void close() throws IOException {
            if (out != null) {
                out.close();
            }
        }
    }
}
