/* edge_ecg_encoder.h: reference C99 encoder of the edge-ecg wire protocol (version 1).
 *
 * Written for small MCUs (Cortex-M0+ and up): no malloc, no stdio, only <stdint.h>,
 * <stddef.h> and <string.h>. Every function writes into a caller-provided buffer and returns
 * the number of bytes written, or 0 when the arguments are invalid or the buffer is too small
 * (nothing useful is written then). Byte order on the wire is little-endian whatever the CPU's.
 *
 * Typical use, once per block of samples (e.g. from the ADS1298 DRDY interrupt, or a DMA
 * half-transfer callback):
 *
 *     static edge_ecg_encoder_t enc;           // edge_ecg_encoder_init(&enc) at boot
 *     static uint8_t frame[EDGE_ECG_MAX_FRAME_BYTES];
 *     size_t n = edge_ecg_encode_data(&enc, frame, sizeof frame, first_sample,
 *                                     8, EDGE_ECG_FORMAT_INT24, 10, samples, lead_off_mask);
 *     if (n) uart_write(frame, n);
 *
 * Constants and offsets come from the generated edge_ecg_protocol.h. */
#ifndef EDGE_ECG_ENCODER_H
#define EDGE_ECG_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "edge_ecg_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The frame sequence counter: +1 per frame of any type, wraps at 65536. */
typedef struct {
    uint16_t seq;
} edge_ecg_encoder_t;

/* What a descriptor frame announces. The three arrays hold n_channels entries. */
typedef struct {
    uint64_t next_sample;              /* sample counter of the next data sample to be sent */
    uint32_t fs_millihz;               /* nominal sampling rate in mHz (360 Hz -> 360000) */
    uint32_t device_id;
    uint8_t fw_major;
    uint8_t fw_minor;
    uint16_t fw_patch;
    uint8_t n_channels;                /* 1..EDGE_ECG_MAX_CHANNELS */
    uint8_t sample_format;             /* EDGE_ECG_FORMAT_INT16 or EDGE_ECG_FORMAT_INT24 */
    uint16_t samples_per_frame;        /* nominal; 1.. what one frame of these channels can carry */
    const char *const *channel_names;  /* NUL-terminated printable ASCII, 1 to 8 characters each */
    const float *uv_per_count;         /* microvolts per count: finite, normal, > 0 */
    const int32_t *baseline_counts;    /* count of 0 uV */
} edge_ecg_descriptor_t;

void edge_ecg_encoder_init(edge_ecg_encoder_t *enc);

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0).
 * edge_ecg_crc16_update continues a running CRC; start from EDGE_ECG_CRC_INIT. */
uint16_t edge_ecg_crc16_update(uint16_t crc, const uint8_t *data, size_t len);
uint16_t edge_ecg_crc16(const uint8_t *data, size_t len);

/* Bytes of a whole data frame (header + payload + CRC); 0 for invalid arguments. */
size_t edge_ecg_data_frame_size(uint8_t n_channels, uint8_t sample_format, uint16_t n_samples);

/* A data frame: n_samples x n_channels counts, sample-major (s0c0 s0c1 ... s1c0 ...), each
 * within the range of sample_format. Bit c of lead_off_mask flags channel c as lead-off. */
size_t edge_ecg_encode_data(edge_ecg_encoder_t *enc, uint8_t *out, size_t out_cap,
                            uint64_t first_sample, uint8_t n_channels, uint8_t sample_format,
                            uint16_t n_samples, const int32_t *counts, uint32_t lead_off_mask);

size_t edge_ecg_encode_descriptor(edge_ecg_encoder_t *enc, uint8_t *out, size_t out_cap,
                                  const edge_ecg_descriptor_t *d);

/* kind: EDGE_ECG_EVENT_BUTTON / _MARKER / _BATTERY (any other kind: 0); sample: the sample
 * counter at the event. Every encoder returns the frame's length in bytes, or 0 for an invalid
 * argument, a NULL pointer or out_cap too small: no frame (out may hold partial bytes; send
 * nothing) and seq unchanged. */
size_t edge_ecg_encode_event(edge_ecg_encoder_t *enc, uint8_t *out, size_t out_cap,
                             uint64_t sample, uint8_t kind, int32_t value);

size_t edge_ecg_encode_heartbeat(edge_ecg_encoder_t *enc, uint8_t *out, size_t out_cap,
                                 uint64_t next_sample, uint32_t uptime_ms);

#ifdef __cplusplus
}
#endif

#endif /* EDGE_ECG_ENCODER_H */
