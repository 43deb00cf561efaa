package weir.nexmark.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import weir.nexmark.Event;
import weir.nexmark.Generator;
import weir.nexmark.NexmarkConfig;

/**
 * The Nexmark generator as a Flink source (FLIP-27). As weir's source, subtask i of p emits event
 * numbers i, i + p, i + 2p, ...: the same events for any parallelism, and each subtask's
 * timestamps only grow. There is one split per subtask; a checkpoint records the split's next
 * event number. Each record carries its dateTime as timestamp.
 */
public class NexmarkSource implements Source<Event, NexmarkSource.Split, List<NexmarkSource.Split>> {
    private static final long serialVersionUID = 1L;

    private final NexmarkConfig config;

    public NexmarkSource(NexmarkConfig config) {
        config.check();
        this.config = config;
    }

    @Override
    public Boundedness getBoundedness() {
        return config.events > 0 ? Boundedness.BOUNDED : Boundedness.CONTINUOUS_UNBOUNDED;
    }

    @Override
    public SourceReader<Event, Split> createReader(SourceReaderContext ctx) {
        return new Reader(config, ctx);
    }

    @Override
    public SplitEnumerator<Split, List<Split>> createEnumerator(SplitEnumeratorContext<Split> ctx) {
        int p = ctx.currentParallelism();
        List<Split> splits = new ArrayList<>();
        for (int i = 0; i < p; i++) {
            splits.add(new Split(i, p, i));
        }
        return new Enumerator(ctx, splits);
    }

    @Override
    public SplitEnumerator<Split, List<Split>> restoreEnumerator(
            SplitEnumeratorContext<Split> ctx, List<Split> pending) {
        return new Enumerator(ctx, new ArrayList<>(pending));
    }

    @Override
    public SimpleVersionedSerializer<Split> getSplitSerializer() {
        return new SplitSerializer();
    }

    @Override
    public SimpleVersionedSerializer<List<Split>> getEnumeratorCheckpointSerializer() {
        return new PendingSerializer();
    }

    /** Event numbers index, index + stride, ... starting at next. */
    public static final class Split implements SourceSplit {
        final int index;
        final int stride;
        long next;

        Split(int index, int stride, long next) {
            this.index = index;
            this.stride = stride;
            this.next = next;
        }

        @Override
        public String splitId() {
            return "nexmark-" + index + "-of-" + stride;
        }
    }

    /** Hands split i to subtask i when it registers; nothing else to assign. */
    static final class Enumerator implements SplitEnumerator<Split, List<Split>> {
        private final SplitEnumeratorContext<Split> ctx;
        private final List<Split> pending;

        Enumerator(SplitEnumeratorContext<Split> ctx, List<Split> pending) {
            this.ctx = ctx;
            this.pending = pending;
        }

        @Override
        public void start() {}

        @Override
        public void handleSplitRequest(int subtaskId, String requesterHostname) {}

        @Override
        public void addSplitsBack(List<Split> splits, int subtaskId) {
            pending.addAll(splits);
        }

        @Override
        public void addReader(int subtaskId) {
            List<Split> mine = new ArrayList<>();
            pending.removeIf(s -> {
                if (s.index % ctx.currentParallelism() == subtaskId) {
                    mine.add(s);
                    return true;
                }
                return false;
            });
            for (Split s : mine) {
                ctx.assignSplit(s, subtaskId);
            }
            ctx.signalNoMoreSplits(subtaskId);
        }

        @Override
        public List<Split> snapshotState(long checkpointId) {
            return new ArrayList<>(pending);
        }

        @Override
        public void close() {}
    }

    static final class Reader implements SourceReader<Event, Split> {
        private final NexmarkConfig config;
        private final Generator gen;
        private final SourceReaderContext ctx;
        private final List<Split> splits = new ArrayList<>();
        private boolean noMoreSplits;
        private CompletableFuture<Void> available = new CompletableFuture<>();
        private long emitted;
        private long startNs;
        private double rate;

        Reader(NexmarkConfig config, SourceReaderContext ctx) {
            this.config = config;
            this.gen = new Generator(config);
            this.ctx = ctx;
        }

        @Override
        public void start() {
            startNs = System.nanoTime();
            rate = config.rateLimit > 0 ? config.rateLimit / ctx.currentParallelism() : 0;
        }

        @Override
        public InputStatus pollNext(ReaderOutput<Event> out) {
            long events = config.events;
            while (!splits.isEmpty() && events > 0 && splits.get(0).next >= events) {
                splits.remove(0);
            }
            if (splits.isEmpty()) {
                if (noMoreSplits) {
                    return InputStatus.END_OF_INPUT;
                }
                available = new CompletableFuture<>();
                return InputStatus.NOTHING_AVAILABLE;
            }
            if (rate > 0) {
                double due = (System.nanoTime() - startNs) * 1e-9 * rate;
                if (emitted >= due) {
                    available = new CompletableFuture<>();
                    CompletableFuture<Void> f = available;
                    CompletableFuture.delayedExecutor(1, TimeUnit.MILLISECONDS)
                            .execute(() -> f.complete(null));
                    return InputStatus.NOTHING_AVAILABLE;
                }
            }
            Split s = splits.get(0);
            Event e = gen.eventAt(s.next);
            s.next += s.stride;
            emitted++;
            out.collect(e, e.dateTime());
            return InputStatus.MORE_AVAILABLE;
        }

        @Override
        public List<Split> snapshotState(long checkpointId) {
            List<Split> copy = new ArrayList<>();
            for (Split s : splits) {
                copy.add(new Split(s.index, s.stride, s.next));
            }
            return copy;
        }

        @Override
        public CompletableFuture<Void> isAvailable() {
            return available;
        }

        @Override
        public void addSplits(List<Split> added) {
            splits.addAll(added);
            available.complete(null);
        }

        @Override
        public void notifyNoMoreSplits() {
            noMoreSplits = true;
            available.complete(null);
        }

        @Override
        public void close() {}
    }

    static final class SplitSerializer implements SimpleVersionedSerializer<Split> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(Split s) throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(b);
            out.writeInt(s.index);
            out.writeInt(s.stride);
            out.writeLong(s.next);
            out.flush();
            return b.toByteArray();
        }

        @Override
        public Split deserialize(int version, byte[] bytes) throws IOException {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
            return new Split(in.readInt(), in.readInt(), in.readLong());
        }
    }

    static final class PendingSerializer implements SimpleVersionedSerializer<List<Split>> {
        private final SplitSerializer one = new SplitSerializer();

        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(List<Split> splits) throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(b);
            out.writeInt(splits.size());
            for (Split s : splits) {
                byte[] x = one.serialize(s);
                out.writeInt(x.length);
                out.write(x);
            }
            out.flush();
            return b.toByteArray();
        }

        @Override
        public List<Split> deserialize(int version, byte[] bytes) throws IOException {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
            int n = in.readInt();
            List<Split> splits = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                byte[] x = new byte[in.readInt()];
                in.readFully(x);
                splits.add(one.deserialize(version, x));
            }
            return splits;
        }
    }
}
