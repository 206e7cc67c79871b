package io.volumeclone.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link CloneMetadata} on a metadata device: format v2 (reads v1).
 *
 * <p>Design note: layout (4 KiB blocks, little-endian, every block checksummed with CRC32C over
 * bytes 4..4095 stored in bytes 0..3):
 *
 * <pre>
 * block 0        label: magic "VCLONEMD", version 1, UUID, geometry (region size, region count,
 *                source/destination offsets and sizes, clone size), bitmap layout. Written once,
 *                last, when formatting; never rewritten, so a torn write can never hit it and an
 *                all-zero block 0 reliably means "never formatted".
 * blocks 1, 2    commit slots A and B: magic "VCSUPERB", UUID, geometry again, transaction id,
 *                flags (complete, cut over), committed region count, and (v2) the clone's
 *                {@link CloneIdentity} at bytes 256 (clone) and 1280 (destination), each a
 *                length and UTF-8 text. The valid slot with the highest transaction id is the
 *                committed state; a commit writes the other slot.
 * blocks 3..7    reserved (zero).
 * blocks 8..     bitmap: for bitmap block i, copy 0 at 8 + 2i and copy 1 at 9 + 2i. A copy holds a
 *                64-byte header (magic "VCBM", transaction id, block index, UUID) and 504 words =
 *                32,256 region bits.
 * </pre>
 *
 * The label and the two slots together are the "superblock" of DESIGN.md.
 *
 * <p>Identity (v2). A device whose committed slot records another {@link CloneIdentity} than the
 * one it is opened for is refused, naming both: its bitmap describes another destination. The
 * identity lives in the slots, not the label, because the label is never rewritten and a v1 device
 * must be able to take one: a v1 device (or a slot without identity) is accepted as it is, since
 * nothing on it says whose it is, and the identity it is opened with is recorded by its first
 * commit (which then happens even when no region changed), after which it is bound like any v2
 * device. From that commit on a v1 build no longer reads the device (it refuses slot version 2);
 * going back a version is not supported.
 *
 * <p>Two-phase commit. A commit with transaction id T takes the dirty bitmap blocks, flushes the
 * destination, writes each dirty block (stamped T) into the copy that does NOT hold its committed
 * version, flushes the metadata device, writes slot T into the slot that does not hold the
 * committed one, and flushes again. Until the slot write is durable, every committed block and slot
 * is untouched, so a crash or torn write at any point leaves the previous transaction readable; a
 * torn block fails its checksum and is ignored. On open a block's version is the valid copy (magic,
 * UUID, index, checksum) with the highest transaction id not above the committed one, so bitmap
 * copies of a transaction whose slot never landed are ignored; open then zeroes such leftovers so
 * that a later transaction id can never make them current. As a last line of defence the number of
 * bits loaded must equal the committed count in the slot, or the device is refused: each new
 * version of a block has strictly more bits than the one before, so picking a wrong version cannot
 * go unnoticed.
 *
 * <p>Errors (dm-clone's {@code __metadata_operation_failed}). A failed metadata write or flush, a
 * failed flush of the destination inside a commit, or {@link #abort} after a destination flush
 * failed elsewhere, aborts the transaction: the mode becomes READ_ONLY for good and every later
 * commit fails, because the aborted transaction's changes can no longer be made durable. A failed
 * destination flush is never retried: Linux reports a writeback error once per descriptor and then
 * marks the pages clean, so a retry would succeed and commit regions whose data never reached the
 * disk. The in-memory map keeps the regions marked since the last commit: their data is on the
 * destination as far as this process can see (a user write may be the only copy), so reads keep
 * going there and never return the source's bytes for a region that held an acknowledged write.
 * Aborting re-reads the commit slots; when even that fails the mode becomes FAIL.
 *
 * <p>Memory and speed: the {@link RegionMap} (one bit per region) plus a byte and an int per bitmap
 * block. Opening reads the bitmap in 4 MiB chunks and checksums only blocks that carry the magic,
 * so a 16 TiB clone of 64 KiB regions (8,323 bitmap blocks, 65 MiB of metadata) opens in tens of
 * milliseconds on a sparse file.
 *
 * <p>{@link #close()} closes the device. When {@link #open} throws, the device is left open for the
 * caller to close.
 */
public final class DiskCloneMetadata implements CloneMetadata {

  private static final Logger LOG = LoggerFactory.getLogger(DiskCloneMetadata.class);

  public static final int FORMAT_VERSION = 2;

  /** The first format version, without identity; still read. */
  static final int FORMAT_VERSION_1 = 1;

  public static final int BLOCK_SIZE = 4096;
  static final long LABEL_MAGIC = 0x444D454E4F4C4356L; // "VCLONEMD" little-endian
  static final long SLOT_MAGIC = 0x4252455055534356L; // "VCSUPERB"
  static final int BITMAP_MAGIC = 0x4D424356; // "VCBM"
  static final int SLOT_BLOCK = 1;
  static final int BITMAP_START_BLOCK = 8;
  static final int BITMAP_HEADER = 64;
  public static final int WORDS_PER_BLOCK = (BLOCK_SIZE - BITMAP_HEADER) / 8;
  public static final long REGIONS_PER_BLOCK = 64L * WORDS_PER_BLOCK;
  static final long FLAG_COMPLETE = 1;
  static final long FLAG_CUT_OVER = 2;
  static final int IDENTITY_CLONE_AT = 256;
  static final int IDENTITY_DESTINATION_AT = 1280;
  private static final int READ_CHUNK = 4 << 20;
  private static final IoAction NO_FLUSH = () -> {};

  private final BlockDevice device;
  private final CloneGeometry geometry;
  private final UUID uuid;
  private final RegionMap map;
  private final int bitmapBlocks;

  /** Which copy (0 or 1) holds each block's committed version; -1 when never written. */
  private final byte[] currentCopy;

  /** Set bits in each block's committed version. */
  private final int[] committedBits;

  /** Per block, bit c set: copy c holds a transaction newer than the committed one. */
  private final byte[] uncommitted;

  private final ReentrantLock commitLock = new ReentrantLock();
  private volatile Mode mode = Mode.WRITE;

  /** Why {@link #mode} left WRITE; written before {@link #mode} so a reader of the mode sees it. */
  private volatile String failure;

  private volatile long transactionId;
  private volatile long committedCount;
  private volatile long flags;
  private int currentSlot;
  private long nextTransactionId;
  private volatile boolean closed;

  /** The identity the next slot records; null when none is known (opened without one). */
  private volatile CloneIdentity identity;

  /** The committed slot lacks {@link #identity}: the next commit records it. */
  private volatile boolean identityPending;

  private DiskCloneMetadata(BlockDevice device, CloneGeometry geometry, UUID uuid) {
    this.device = device;
    this.geometry = geometry;
    this.uuid = uuid;
    this.bitmapBlocks = bitmapBlocks(geometry.regionCount());
    this.map = new RegionMap(geometry.regionCount(), WORDS_PER_BLOCK);
    this.currentCopy = new byte[bitmapBlocks];
    this.committedBits = new int[bitmapBlocks];
    this.uncommitted = new byte[bitmapBlocks];
  }

  // ---------------------------------------------------------------------------------------------
  // Sizes

  static int bitmapBlocks(long regionCount) {
    return (int) ((regionCount + REGIONS_PER_BLOCK - 1) / REGIONS_PER_BLOCK);
  }

  /** Bytes a metadata device needs for {@code geometry}. */
  public static long requiredSize(CloneGeometry geometry) {
    return requiredSize(geometry.regionCount());
  }

  static long requiredSize(long regionCount) {
    return (BITMAP_START_BLOCK + 2L * bitmapBlocks(regionCount)) * BLOCK_SIZE;
  }

  private static long copyOffset(int block, int copy) {
    return (BITMAP_START_BLOCK + 2L * block + copy) * BLOCK_SIZE;
  }

  // ---------------------------------------------------------------------------------------------
  // Open, format, validate

  /**
   * Opens the clone's metadata on {@code device}: formats it when its first 4 KiB block is all
   * zeroes or {@code force} is set; otherwise validates it against {@code geometry} and loads the
   * last committed transaction.
   *
   * @throws MetadataMismatchException when the device holds something else, is corrupt, belongs to
   *     a clone of another geometry, or is too small; nothing is written then
   */
  public static DiskCloneMetadata open(BlockDevice device, CloneGeometry geometry, boolean force)
      throws IOException {
    return open(device, geometry, null, force);
  }

  /**
   * Opens the clone's metadata on {@code device} as {@link #open(BlockDevice, CloneGeometry,
   * boolean)} does, bound to {@code identity}: a device that records another identity is refused,
   * one that records none takes {@code identity} at its first commit, a new one records it at once.
   * A null identity checks and records nothing (tests, benchmarks).
   *
   * @throws MetadataMismatchException also when the device records another clone or destination
   */
  public static DiskCloneMetadata open(
      BlockDevice device, CloneGeometry geometry, CloneIdentity identity, boolean force)
      throws IOException {
    String name = device.name();
    if (device.readOnly()) {
      throw new MetadataMismatchException(name, "is opened read-only; the clone must write it");
    }
    if (device.size() < BLOCK_SIZE) {
      throw tooSmall(device, geometry);
    }
    ByteBuffer label = readBlock(device, 0);
    if (force || isAllZero(label)) {
      if (device.size() < requiredSize(geometry)) {
        throw tooSmall(device, geometry);
      }
      return format(device, geometry, identity, force);
    }
    Label parsed = parseLabel(name, label);
    compareGeometry(name, parsed.geometry, geometry);
    if (device.size() < requiredSize(geometry)) {
      throw tooSmall(device, geometry);
    }
    DiskCloneMetadata metadata = new DiskCloneMetadata(device, geometry, parsed.uuid);
    CloneIdentity recorded = metadata.load();
    if (identity != null && recorded != null && !recorded.equals(identity)) {
      throw new MetadataMismatchException(
          name,
          "belongs to "
              + recorded
              + ", not to "
              + identity
              + ": its bitmap describes another destination, so it is never resumed for this"
              + " clone");
    }
    metadata.identity = recorded != null ? recorded : identity;
    metadata.identityPending = recorded == null && identity != null;
    if (metadata.identityPending) {
      LOG.info(
          "{}: records no clone identity (format version {}); binding it to {} at its first"
              + " commit",
          name,
          parsed.version,
          identity);
    }
    metadata.removeUncommittedCopies();
    LOG.info(
        "{}: opened clone metadata {} at transaction {}, {} of {} regions copied{}",
        name,
        parsed.uuid,
        metadata.transactionId,
        metadata.committedCount,
        geometry.regionCount(),
        metadata.isComplete() ? ", complete" : "");
    return metadata;
  }

  private static MetadataMismatchException tooSmall(BlockDevice device, CloneGeometry geometry) {
    long needed = requiredSize(geometry);
    return new MetadataMismatchException(
        device.name(),
        "is too small: a clone of "
            + geometry.regionCount()
            + " regions of "
            + geometry.regionSize()
            + " bytes needs "
            + needed
            + " bytes ("
            + ((needed + (1 << 20) - 1) >> 20)
            + " MiB) of metadata, the device has "
            + device.size());
  }

  private static DiskCloneMetadata format(
      BlockDevice device, CloneGeometry geometry, CloneIdentity identity, boolean force)
      throws IOException {
    UUID uuid = UUID.randomUUID();
    LOG.info(
        "{}: formatting clone metadata {} for {} regions of {} bytes{}",
        device.name(),
        uuid,
        geometry.regionCount(),
        geometry.regionSize(),
        force ? " (forced)" : "");
    DiskCloneMetadata metadata = new DiskCloneMetadata(device, geometry, uuid);
    metadata.identity = identity;
    Arrays.fill(metadata.currentCopy, (byte) -1);
    if (force) {
      // Unlabel first: a crash in the middle of a forced format then leaves an empty device,
      // never the old label over new slots.
      device.write(0, ByteBuffer.allocate(BLOCK_SIZE));
      device.flush();
    }
    // Slots and bitmap first, the label last: a crash before the label is durable leaves block 0
    // zero, and the next open formats again. Bitmap blocks of an earlier format carry another
    // UUID, so they read as never written and need no zeroing.
    device.write(SLOT_BLOCK * (long) BLOCK_SIZE, metadata.encodeSlot(0, 0, 0));
    device.write((SLOT_BLOCK + 1) * (long) BLOCK_SIZE, ByteBuffer.allocate(BLOCK_SIZE));
    device.flush();
    device.write(0, encodeLabel(uuid, geometry));
    device.flush();
    metadata.currentSlot = 0;
    metadata.transactionId = 0;
    metadata.nextTransactionId = 1;
    return metadata;
  }

  private record Label(int version, UUID uuid, CloneGeometry geometry) {}

  private record Slot(
      long transactionId, long flags, long committedCount, CloneIdentity identity) {}

  private static Label parseLabel(String name, ByteBuffer block) throws IOException {
    if (block.getLong(8) != LABEL_MAGIC) {
      throw new MetadataMismatchException(
          name,
          "does not hold volume-clone metadata (no magic in its first block) and is not empty;"
              + " it is never reformatted without the force option");
    }
    int version = block.getInt(4);
    if (!checksumOk(block)) {
      throw new MetadataMismatchException(
          name,
          "has a corrupt label: the checksum of block 0 does not match (a crash while formatting"
              + " can leave this; only the force option reformats it)");
    }
    if (version != FORMAT_VERSION && version != FORMAT_VERSION_1) {
      throw new MetadataMismatchException(
          name,
          "has metadata format version "
              + version
              + "; this build reads "
              + FORMAT_VERSION_1
              + " and "
              + FORMAT_VERSION);
    }
    UUID uuid = new UUID(block.getLong(16), block.getLong(24));
    CloneGeometry geometry;
    try {
      geometry = readGeometry(block, 32);
    } catch (IllegalArgumentException e) {
      throw new MetadataMismatchException(name, "has an impossible geometry: " + e.getMessage());
    }
    long regionCount = block.getLong(80);
    if (regionCount != geometry.regionCount()
        || block.getLong(88) != BITMAP_START_BLOCK
        || block.getInt(96) != WORDS_PER_BLOCK
        || block.getInt(100) != BLOCK_SIZE) {
      throw new MetadataMismatchException(name, "has a label with an inconsistent layout");
    }
    return new Label(version, uuid, geometry);
  }

  private static CloneGeometry readGeometry(ByteBuffer block, int at) {
    return new CloneGeometry(
        block.getLong(at + 8),
        block.getLong(at + 16),
        block.getLong(at + 24),
        (int) block.getLong(at),
        block.getLong(at + 32),
        block.getLong(at + 40));
  }

  private static void writeGeometry(ByteBuffer block, int at, CloneGeometry geometry) {
    block.putLong(at, geometry.regionSize());
    block.putLong(at + 8, geometry.sourceOffset());
    block.putLong(at + 16, geometry.destinationOffset());
    block.putLong(at + 24, geometry.size());
    block.putLong(at + 32, geometry.sourceSize());
    block.putLong(at + 40, geometry.destinationSize());
  }

  private static void compareGeometry(String name, CloneGeometry recorded, CloneGeometry wanted)
      throws MetadataMismatchException {
    String[] fields = {
      "region size",
      "size",
      "source offset",
      "destination offset",
      "source size",
      "destination size"
    };
    long[] have = {
      recorded.regionSize(),
      recorded.size(),
      recorded.sourceOffset(),
      recorded.destinationOffset(),
      recorded.sourceSize(),
      recorded.destinationSize()
    };
    long[] want = {
      wanted.regionSize(),
      wanted.size(),
      wanted.sourceOffset(),
      wanted.destinationOffset(),
      wanted.sourceSize(),
      wanted.destinationSize()
    };
    for (int i = 0; i < fields.length; i++) {
      if (have[i] != want[i]) {
        throw new MetadataMismatchException(
            name, "belongs to a clone with " + fields[i] + " " + have[i] + ", not " + want[i]);
      }
    }
  }

  private static ByteBuffer encodeLabel(UUID uuid, CloneGeometry geometry) {
    ByteBuffer block = newBlock();
    block.putInt(4, FORMAT_VERSION);
    block.putLong(8, LABEL_MAGIC);
    block.putLong(16, uuid.getMostSignificantBits());
    block.putLong(24, uuid.getLeastSignificantBits());
    writeGeometry(block, 32, geometry);
    block.putLong(80, geometry.regionCount());
    block.putLong(88, BITMAP_START_BLOCK);
    block.putInt(96, WORDS_PER_BLOCK);
    block.putInt(100, BLOCK_SIZE);
    block.putLong(104, System.currentTimeMillis());
    return seal(block);
  }

  private ByteBuffer encodeSlot(long transaction, long slotFlags, long count) {
    ByteBuffer block = newBlock();
    block.putInt(4, FORMAT_VERSION);
    block.putLong(8, SLOT_MAGIC);
    block.putLong(16, uuid.getMostSignificantBits());
    block.putLong(24, uuid.getLeastSignificantBits());
    block.putLong(32, transaction);
    block.putLong(40, slotFlags);
    block.putLong(48, count);
    block.putLong(56, geometry.regionCount());
    writeGeometry(block, 64, geometry);
    block.putLong(112, System.currentTimeMillis());
    CloneIdentity id = identity;
    if (id != null) {
      putText(block, IDENTITY_CLONE_AT, id.owner());
      putText(block, IDENTITY_DESTINATION_AT, id.destination());
    }
    return seal(block);
  }

  private static void putText(ByteBuffer block, int at, String text) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    block.putInt(at, bytes.length);
    block.put(at + 4, bytes);
  }

  /** The text at {@code at}, or null when there is none or it cannot be one. */
  private static String getText(ByteBuffer block, int at) {
    int length = block.getInt(at);
    if (length <= 0 || length > CloneIdentity.MAX_BYTES) {
      return null;
    }
    byte[] bytes = new byte[length];
    block.get(at + 4, bytes);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  private static CloneIdentity slotIdentity(ByteBuffer block) {
    String clone = getText(block, IDENTITY_CLONE_AT);
    String destination = getText(block, IDENTITY_DESTINATION_AT);
    if (clone == null || destination == null) {
      return null;
    }
    try {
      return new CloneIdentity(clone, destination);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /** A slot if it is valid for this clone, else null. */
  private static Slot parseSlot(ByteBuffer block, UUID uuid, CloneGeometry geometry) {
    int version = block.getInt(4);
    if (block.getLong(8) != SLOT_MAGIC
        || (version != FORMAT_VERSION && version != FORMAT_VERSION_1)
        || !checksumOk(block)
        || block.getLong(16) != uuid.getMostSignificantBits()
        || block.getLong(24) != uuid.getLeastSignificantBits()
        || block.getLong(56) != geometry.regionCount()) {
      return null;
    }
    try {
      if (!readGeometry(block, 64).equals(geometry)) {
        return null;
      }
    } catch (IllegalArgumentException e) {
      return null;
    }
    long count = block.getLong(48);
    if (count < 0 || count > geometry.regionCount()) {
      return null;
    }
    return new Slot(
        block.getLong(32),
        block.getLong(40),
        count,
        version == FORMAT_VERSION_1 ? null : slotIdentity(block));
  }

  /** Reads both slots; returns the index (0 or 1) of the committed one, or -1 when neither. */
  private static int pickSlot(Slot[] slots) {
    if (slots[0] == null && slots[1] == null) {
      return -1;
    }
    if (slots[1] == null) {
      return 0;
    }
    if (slots[0] == null) {
      return 1;
    }
    return slots[0].transactionId >= slots[1].transactionId ? 0 : 1;
  }

  private static Slot[] readSlots(BlockDevice device, UUID uuid, CloneGeometry geometry)
      throws IOException {
    return new Slot[] {
      parseSlot(readBlock(device, SLOT_BLOCK), uuid, geometry),
      parseSlot(readBlock(device, SLOT_BLOCK + 1), uuid, geometry)
    };
  }

  /**
   * Loads the committed state from the device into memory: the slot, then every bitmap block's
   * committed version. Used by open.
   *
   * @return the identity the committed slot records, or null when it records none
   */
  private CloneIdentity load() throws IOException {
    String name = device.name();
    Slot[] slots = readSlots(device, uuid, geometry);
    int slotIndex = pickSlot(slots);
    if (slotIndex < 0) {
      throw new MetadataMismatchException(
          name, "has no valid commit record: both superblock slots are corrupt");
    }
    Slot slot = slots[slotIndex];
    long committed = slot.transactionId;
    long maxSeen =
        Math.max(committed, slots[1 - slotIndex] == null ? 0 : slots[1 - slotIndex].transactionId);

    long loaded = 0;
    long[] words = new long[WORDS_PER_BLOCK];
    long[] empty = new long[WORDS_PER_BLOCK];
    int pairsPerChunk = READ_CHUNK / (2 * BLOCK_SIZE);
    ByteBuffer chunk =
        ByteBuffer.allocateDirect(pairsPerChunk * 2 * BLOCK_SIZE).order(ByteOrder.LITTLE_ENDIAN);
    CRC32C crc = new CRC32C();
    for (int first = 0; first < bitmapBlocks; first += pairsPerChunk) {
      int pairs = Math.min(pairsPerChunk, bitmapBlocks - first);
      chunk.clear().limit(pairs * 2 * BLOCK_SIZE);
      device.read(copyOffset(first, 0), chunk);
      for (int p = 0; p < pairs; p++) {
        int block = first + p;
        int best = -1;
        long bestTx = -1;
        uncommitted[block] = 0;
        for (int copy = 0; copy < 2; copy++) {
          int at = (2 * p + copy) * BLOCK_SIZE;
          long tx = bitmapCopyTransaction(chunk, at, block, crc);
          if (tx < 0) {
            continue;
          }
          maxSeen = Math.max(maxSeen, tx);
          if (tx > committed) {
            uncommitted[block] |= (byte) (1 << copy);
          }
          if (tx <= committed && tx > bestTx) {
            best = copy;
            bestTx = tx;
          }
        }
        currentCopy[block] = (byte) best;
        if (best < 0) {
          committedBits[block] = (int) map.loadBlock(block, empty);
        } else {
          LongBuffer view =
              chunk
                  .slice((2 * p + best) * BLOCK_SIZE + BITMAP_HEADER, WORDS_PER_BLOCK * 8)
                  .order(ByteOrder.LITTLE_ENDIAN)
                  .asLongBuffer();
          view.get(words, 0, WORDS_PER_BLOCK);
          committedBits[block] = (int) map.loadBlock(block, words);
        }
        loaded += committedBits[block];
      }
    }
    map.takeDirty(); // loading is not a change
    if (loaded != slot.committedCount) {
      throw new MetadataMismatchException(
          name,
          "is corrupt: its bitmap marks "
              + loaded
              + " regions copied but transaction "
              + committed
              + " recorded "
              + slot.committedCount);
    }
    this.currentSlot = slotIndex;
    this.transactionId = committed;
    this.committedCount = slot.committedCount;
    this.flags = slot.flags;
    this.nextTransactionId = maxSeen + 1;
    return slot.identity;
  }

  /**
   * The transaction id of a valid bitmap copy at {@code at} in {@code chunk}, or -1 when it is not
   * a valid copy of {@code block} for this clone (never written, torn, or of another format).
   */
  private long bitmapCopyTransaction(ByteBuffer chunk, int at, int block, CRC32C crc) {
    if (chunk.getInt(at + 4) != BITMAP_MAGIC
        || chunk.getLong(at + 16) != block
        || chunk.getLong(at + 24) != uuid.getMostSignificantBits()
        || chunk.getLong(at + 32) != uuid.getLeastSignificantBits()) {
      return -1;
    }
    crc.reset();
    crc.update(chunk.duplicate().position(at + 4).limit(at + BLOCK_SIZE));
    if ((int) crc.getValue() != chunk.getInt(at)) {
      return -1;
    }
    return chunk.getLong(at + 8);
  }

  /**
   * Zeroes bitmap copies written by a transaction whose slot never became durable. They are ignored
   * now, but a later transaction id would otherwise make them look current.
   */
  private void removeUncommittedCopies() throws IOException {
    ByteBuffer zero = ByteBuffer.allocate(BLOCK_SIZE);
    int removed = 0;
    for (int block = 0; block < bitmapBlocks; block++) {
      for (int copy = 0; copy < 2; copy++) {
        if ((uncommitted[block] & (1 << copy)) != 0) {
          device.write(copyOffset(block, copy), zero.clear());
          removed++;
        }
      }
      uncommitted[block] = 0;
    }
    if (removed > 0) {
      device.flush();
      LOG.info(
          "{}: removed {} bitmap block copies of an uncommitted transaction",
          device.name(),
          removed);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Inspect

  /** Reads what a metadata device holds without knowing the clone's geometry; writes nothing. */
  public static MetadataReport inspect(BlockDevice device) throws IOException {
    String name = device.name();
    long deviceSize = device.size();
    if (deviceSize < BLOCK_SIZE) {
      return MetadataReport.invalid(name, "is smaller than one 4 KiB block", deviceSize);
    }
    ByteBuffer block = readBlock(device, 0);
    if (isAllZero(block)) {
      return MetadataReport.unformatted(name, deviceSize);
    }
    Label label;
    try {
      label = parseLabel(name, block);
    } catch (MetadataMismatchException e) {
      return MetadataReport.invalid(name, e.reason(), deviceSize);
    }
    long required = requiredSize(label.geometry);
    Slot[] slots = readSlots(device, label.uuid, label.geometry);
    int index = pickSlot(slots);
    if (index < 0) {
      return new MetadataReport(
          name,
          MetadataReport.State.INVALID,
          "has no valid commit record: both superblock slots are corrupt",
          label.version,
          label.uuid,
          label.geometry,
          0,
          0,
          false,
          false,
          deviceSize,
          required,
          null);
    }
    Slot slot = slots[index];
    String problem =
        deviceSize < required
            ? "is too small: the clone needs " + required + " bytes, the device has " + deviceSize
            : null;
    return new MetadataReport(
        name,
        problem == null ? MetadataReport.State.VALID : MetadataReport.State.INVALID,
        problem,
        label.version,
        label.uuid,
        label.geometry,
        slot.transactionId,
        slot.committedCount,
        (slot.flags & FLAG_COMPLETE) != 0,
        (slot.flags & FLAG_CUT_OVER) != 0,
        deviceSize,
        required,
        slot.identity);
  }

  // ---------------------------------------------------------------------------------------------
  // Queries and marks (non-blocking)

  @Override
  public String deviceName() {
    return device.name();
  }

  @Override
  public UUID uuid() {
    return uuid;
  }

  /** The identity this metadata is bound to (or will be at its next commit); null when none. */
  public CloneIdentity identity() {
    return identity;
  }

  @Override
  public CloneGeometry geometry() {
    return geometry;
  }

  @Override
  public Mode mode() {
    return mode;
  }

  @Override
  public String failure() {
    return failure;
  }

  /** The in-memory region map (read-only use: memory figures, extents). */
  public RegionMap regionMap() {
    return map;
  }

  @Override
  public boolean isHydrated(long region) {
    return map.isSet(region);
  }

  @Override
  public boolean isRangeHydrated(long first, long count) {
    return map.allSet(first, count);
  }

  @Override
  public long nextUnhydrated(long from) {
    return map.nextClear(from);
  }

  @Override
  public long nextHydrated(long from) {
    return map.nextSet(from);
  }

  @Override
  public void setHydrated(long first, long count) throws BlockIoException {
    Mode current = mode;
    if (current != Mode.WRITE) {
      throw new BlockIoException(
          BlockIoException.Kind.READ_ONLY,
          device.name(),
          "mark regions copied",
          first * geometry.regionSize(),
          "metadata is " + current + " after an earlier metadata error");
    }
    map.set(first, count);
  }

  @Override
  public long hydratedCount() {
    return map.cardinality();
  }

  @Override
  public long committedCount() {
    return committedCount;
  }

  @Override
  public long transactionId() {
    return transactionId;
  }

  @Override
  public boolean isComplete() {
    return (flags & FLAG_COMPLETE) != 0;
  }

  @Override
  public boolean isCutOver() {
    return (flags & FLAG_CUT_OVER) != 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Commit

  @Override
  public void commit(IoAction flushDestination) throws IOException {
    commitLock.lock();
    try {
      commitLocked(flushDestination, flags);
    } finally {
      commitLock.unlock();
    }
  }

  @Override
  public void markComplete(IoAction flushDestination) throws IOException {
    commitLock.lock();
    try {
      long missing = map.nextClear(0);
      if (missing >= 0) {
        throw new IllegalStateException(
            "cannot mark the clone on "
                + device.name()
                + " complete: region "
                + missing
                + " is not copied");
      }
      commitLocked(flushDestination, flags | FLAG_COMPLETE);
    } finally {
      commitLock.unlock();
    }
  }

  @Override
  public void markCutOver() throws IOException {
    commitLock.lock();
    try {
      if (!isComplete()) {
        throw new IllegalStateException(
            "cannot record cutover on " + device.name() + ": the clone is not complete");
      }
      commitLocked(NO_FLUSH, flags | FLAG_CUT_OVER);
    } finally {
      commitLock.unlock();
    }
  }

  private void commitLocked(IoAction flushDestination, long newFlags) throws IOException {
    checkOpen();
    Mode current = mode;
    if (current == Mode.FAIL) {
      throw new BlockIoException(
          BlockIoException.Kind.IO,
          device.name(),
          "commit",
          0,
          "metadata is in FAIL mode after an earlier error");
    }
    if (current != Mode.WRITE) {
      // The aborted transaction's changes stay in memory and can never be committed.
      throw new BlockIoException(
          BlockIoException.Kind.IO,
          device.name(),
          "commit",
          0,
          "metadata is " + current + " after an earlier metadata error");
    }
    if (!map.hasDirty() && newFlags == flags && !identityPending) {
      return;
    }
    long tx = nextTransactionId;
    // 1. Snapshot: take the dirty set, then copy each block's words into its on-disk form.
    int[] blocks = map.takeDirty();
    ByteBuffer[] encoded = new ByteBuffer[blocks.length];
    int[] bits = new int[blocks.length];
    long[] words = new long[WORDS_PER_BLOCK];
    long count = committedCount;
    for (int i = 0; i < blocks.length; i++) {
      map.copyBlock(blocks[i], words);
      encoded[i] = encodeBitmapBlock(blocks[i], tx, words);
      for (long w : words) {
        bits[i] += Long.bitCount(w);
      }
      count += bits[i] - committedBits[blocks[i]];
    }
    // 2. The data of every region in the snapshot must be stable before the bitmap says so.
    try {
      flushDestination.run();
    } catch (IOException | RuntimeException e) {
      map.redirty(blocks);
      throw abort(tx, "flush destination", 0, e);
    }
    // 3-6. Bitmap blocks into their free copies, flush, slot into the free slot, flush.
    long offset = 0;
    String operation = "write bitmap block";
    try {
      for (int i = 0; i < blocks.length; i++) {
        int copy = currentCopy[blocks[i]] == 0 ? 1 : 0;
        offset = copyOffset(blocks[i], copy);
        device.write(offset, encoded[i]);
      }
      operation = "flush";
      offset = 0;
      device.flush();
      operation = "write superblock";
      offset = (SLOT_BLOCK + (1 - currentSlot)) * (long) BLOCK_SIZE;
      device.write(offset, encodeSlot(tx, newFlags, count));
      operation = "flush";
      offset = 0;
      device.flush();
    } catch (IOException | RuntimeException e) {
      map.redirty(blocks);
      throw abort(tx, operation, offset, e);
    }
    for (int i = 0; i < blocks.length; i++) {
      currentCopy[blocks[i]] = (byte) (currentCopy[blocks[i]] == 0 ? 1 : 0);
      committedBits[blocks[i]] = bits[i];
    }
    currentSlot = 1 - currentSlot;
    identityPending = false;
    nextTransactionId = tx + 1;
    committedCount = count;
    flags = newFlags;
    transactionId = tx;
  }

  private ByteBuffer encodeBitmapBlock(int block, long tx, long[] words) {
    ByteBuffer buffer = newBlock();
    buffer.putInt(4, BITMAP_MAGIC);
    buffer.putLong(8, tx);
    buffer.putLong(16, block);
    buffer.putLong(24, uuid.getMostSignificantBits());
    buffer.putLong(32, uuid.getLeastSignificantBits());
    buffer.position(BITMAP_HEADER).asLongBuffer().put(words);
    buffer.position(0);
    return seal(buffer);
  }

  @Override
  public void abort(String operation, Throwable cause) {
    commitLock.lock();
    try {
      if (mode == Mode.WRITE && !closed) {
        abort(nextTransactionId, operation, 0, cause);
      }
    } finally {
      commitLock.unlock();
    }
  }

  /**
   * A commit failed: READ_ONLY, keeping the in-memory map (see the design note), or FAIL when the
   * device cannot even be read back.
   */
  private BlockIoException abort(long tx, String operation, long offset, Throwable cause) {
    failure = abortMessage(operation, offset, tx, Mode.READ_ONLY, cause);
    mode = Mode.READ_ONLY;
    LOG.error(
        "{}: {} at offset {} failed in transaction {}; transaction aborted, metadata is now"
            + " READ_ONLY: every later flush fails",
        device.name(),
        operation,
        offset,
        tx,
        cause);
    try {
      if (pickSlot(readSlots(device, uuid, geometry)) < 0) {
        throw new MetadataMismatchException(
            device.name(), "has no valid commit record after the aborted transaction " + tx);
      }
    } catch (IOException | RuntimeException rereadFailure) {
      failure = abortMessage(operation, offset, tx, Mode.FAIL, cause);
      mode = Mode.FAIL;
      LOG.error(
          "{}: reading the commit record back after the failed commit failed too; metadata is"
              + " now FAIL",
          device.name(),
          rereadFailure);
      cause.addSuppressed(rereadFailure);
    }
    return new BlockIoException(
        BlockIoException.Kind.IO,
        device.name(),
        operation,
        offset,
        "metadata commit " + tx + " aborted, metadata is now " + mode + ": " + cause.getMessage(),
        cause);
  }

  private String abortMessage(String operation, long offset, long tx, Mode now, Throwable cause) {
    return operation
        + " on "
        + device.name()
        + " at offset "
        + offset
        + " failed: metadata commit "
        + tx
        + " aborted, metadata is now "
        + now
        + ": "
        + cause.getMessage();
  }

  private void checkOpen() throws BlockIoException {
    if (closed) {
      throw new BlockIoException(
          BlockIoException.Kind.IO, device.name(), "commit", 0, "metadata is closed");
    }
  }

  @Override
  public void close() throws IOException {
    commitLock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      device.close();
    } finally {
      commitLock.unlock();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Block helpers

  private static ByteBuffer newBlock() {
    return ByteBuffer.allocate(BLOCK_SIZE).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static ByteBuffer readBlock(BlockDevice device, long block) throws IOException {
    ByteBuffer buffer = newBlock();
    device.read(block * BLOCK_SIZE, buffer);
    return buffer.clear();
  }

  private static ByteBuffer seal(ByteBuffer block) {
    CRC32C crc = new CRC32C();
    crc.update(block.array(), 4, BLOCK_SIZE - 4);
    block.putInt(0, (int) crc.getValue());
    return block.clear();
  }

  private static boolean checksumOk(ByteBuffer block) {
    CRC32C crc = new CRC32C();
    crc.update(block.duplicate().position(4).limit(BLOCK_SIZE));
    return (int) crc.getValue() == block.getInt(0);
  }

  private static boolean isAllZero(ByteBuffer block) {
    for (int i = 0; i < BLOCK_SIZE; i += 8) {
      if (block.getLong(i) != 0) {
        return false;
      }
    }
    return true;
  }
}
