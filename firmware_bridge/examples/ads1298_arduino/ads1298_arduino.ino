// ads1298_arduino.ino: an 8-channel ECG front end (TI ADS1298) speaking the edge-ecg protocol.
//
// Where the numbers come from:
//   * Samples: in RDATAC mode the ADS1298 pulls DRDY low once per sample (500 SPS here) and then
//     shifts out 27 bytes on SPI: a 24-bit status word followed by 8 channels of 24-bit two's
//     complement data, MSB first. Each channel value goes into the frame as packed int24.
//   * Lead-off: the status word is 1100 | LOFF_STATP[7:0] | LOFF_STATN[7:0] | GPIO[3:0]. Bit
//     (12 + c) flags the positive input of channel c as off, bit (4 + c) the negative input; a
//     channel is reported lead-off in a frame if either was set at any of its samples.
//   * Scale: with VREF = 2.4 V and PGA gain 6, one count is 2 * 2.4 V / 6 / 2^24
//     = 0.0476837158203125 uV (exact in float32). Baseline is 0 (the ADC is bipolar).
//   * Sample counter: a 64-bit count of DRDY pulses since boot. It keeps counting when the host
//     is not listening, so the host knows exactly what it missed.
//
// To build: copy (or symlink) edge_ecg_protocol.h, edge_ecg_encoder.h and edge_ecg_encoder.c
// from firmware_bridge/ into this sketch folder. Board: any Arduino with hardware SPI and a
// fast USB serial (Teensy, SAMD21/51, RP2040); the UART must carry 8 ch x 3 B x 500 SPS plus
// framing, about 13 kB/s: use 921600 baud (USB CDC ignores the baud rate anyway).
//
// Pins (change to suit your board): CS 10, DRDY 9 (interrupt), START 8, PWDN 7, RESET 6,
// marker button 2 (to GND), battery divider (1:2) on A0.

#include <Arduino.h>
#include <SPI.h>
#include <string.h>

#include "edge_ecg_encoder.h"  // C header with extern "C" guards

static const uint8_t PIN_CS = 10;
static const uint8_t PIN_DRDY = 9;
static const uint8_t PIN_START = 8;
static const uint8_t PIN_PWDN = 7;
static const uint8_t PIN_RESET = 6;
static const uint8_t PIN_BUTTON = 2;
static const uint8_t PIN_BATTERY = A0;

static const uint8_t N_CHANNELS = 8;
static const uint16_t SAMPLES_PER_FRAME = 10;        // 20 ms of latency at 500 SPS
static const uint32_t FS_MILLIHZ = 500000UL;         // 500 SPS, CONFIG1 = 0x86
static const uint16_t DESCRIPTOR_EVERY_FRAMES = 100; // a host joining mid-stream waits <= 2 s
static const uint16_t HEARTBEAT_EVERY_FRAMES = 50;

// ADS1298 opcodes and registers (datasheet SBAS459, section 9.5)
static const uint8_t OP_SDATAC = 0x11, OP_RDATAC = 0x10, OP_WREG = 0x40, OP_RESET = 0x06;
static const uint8_t REG_CONFIG1 = 0x01, REG_CONFIG2 = 0x02, REG_CONFIG3 = 0x03, REG_LOFF = 0x04;
static const uint8_t REG_CH1SET = 0x05, REG_LOFF_SENSP = 0x0F, REG_LOFF_SENSN = 0x10;
static const uint8_t REG_CONFIG4 = 0x17;

static const char *const CHANNEL_NAMES[N_CHANNELS] = {"I", "II", "V1", "V2", "V3", "V4", "V5", "V6"};
static const float UV_PER_COUNT[N_CHANNELS] = {
    0.0476837158203125f, 0.0476837158203125f, 0.0476837158203125f, 0.0476837158203125f,
    0.0476837158203125f, 0.0476837158203125f, 0.0476837158203125f, 0.0476837158203125f};
static const int32_t BASELINE_COUNTS[N_CHANNELS] = {0, 0, 0, 0, 0, 0, 0, 0};

static edge_ecg_encoder_t encoder;
static uint8_t frame[EDGE_ECG_MAX_FRAME_BYTES];

// The DRDY interrupt fills one block while the main loop sends the other.
static int32_t blocks[2][SAMPLES_PER_FRAME * N_CHANNELS];
static uint32_t block_lead_off[2];
static volatile uint8_t filling = 0;
static volatile uint16_t n_filled = 0;
static volatile int8_t ready_block = -1;
static volatile uint64_t sample_counter = 0;    // samples acquired since boot
static uint64_t block_first_sample[2];
static uint32_t frames_sent = 0;

static void ads_command(uint8_t op) {
  digitalWrite(PIN_CS, LOW);
  SPI.transfer(op);
  digitalWrite(PIN_CS, HIGH);
  delayMicroseconds(4);  // >= 4 tCLK between commands
}

static void ads_write(uint8_t reg, uint8_t value) {
  digitalWrite(PIN_CS, LOW);
  SPI.transfer(OP_WREG | reg);
  SPI.transfer(0x00);  // one register
  SPI.transfer(value);
  digitalWrite(PIN_CS, HIGH);
  delayMicroseconds(4);
}

static int32_t sign_extend_24(uint32_t raw) {
  // two's complement 24 -> 32 bits
  return (raw & 0x800000UL) ? (int32_t)(raw | 0xFF000000UL) : (int32_t)raw;
}

// DRDY falling edge: read status + 8 channels (27 bytes) and append one sample to the block.
static void on_drdy() {
  uint8_t raw[27];
  digitalWrite(PIN_CS, LOW);
  for (uint8_t i = 0; i < sizeof raw; ++i) raw[i] = SPI.transfer(0x00);
  digitalWrite(PIN_CS, HIGH);

  uint32_t status = ((uint32_t)raw[0] << 16) | ((uint32_t)raw[1] << 8) | raw[2];
  uint8_t loff_p = (uint8_t)(status >> 12);  // bit c: channel c positive input off
  uint8_t loff_n = (uint8_t)(status >> 4);   // bit c: channel c negative input off

  uint8_t b = filling;
  if (n_filled == 0) {
    block_first_sample[b] = sample_counter;
    block_lead_off[b] = 0;
  }
  int32_t *dst = &blocks[b][n_filled * N_CHANNELS];
  for (uint8_t c = 0; c < N_CHANNELS; ++c) {
    const uint8_t *p = &raw[3 + 3 * c];
    dst[c] = sign_extend_24(((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2]);
  }
  block_lead_off[b] |= (uint32_t)(loff_p | loff_n);
  ++sample_counter;
  if (++n_filled == SAMPLES_PER_FRAME) {
    // If the main loop has not sent the previous block yet, it is overwritten: those samples
    // are lost, and the sample counter tells the host exactly how many.
    ready_block = (int8_t)b;
    filling = (uint8_t)(b ^ 1u);
    n_filled = 0;
  }
}

static uint64_t current_sample() {
  // a 64-bit read is not atomic on a 32-bit MCU: keep the DRDY interrupt out meanwhile
  noInterrupts();
  uint64_t s = sample_counter;
  interrupts();
  return s;
}

static void send_descriptor(uint64_t next_sample) {
  edge_ecg_descriptor_t d;
  d.next_sample = next_sample;
  d.fs_millihz = FS_MILLIHZ;
  d.device_id = 0x00001298UL;
  d.fw_major = 1;
  d.fw_minor = 0;
  d.fw_patch = 0;
  d.n_channels = N_CHANNELS;
  d.sample_format = EDGE_ECG_FORMAT_INT24;
  d.samples_per_frame = SAMPLES_PER_FRAME;
  d.channel_names = CHANNEL_NAMES;
  d.uv_per_count = UV_PER_COUNT;
  d.baseline_counts = BASELINE_COUNTS;
  size_t n = edge_ecg_encode_descriptor(&encoder, frame, sizeof frame, &d);
  if (n) Serial.write(frame, n);
}

void setup() {
  Serial.begin(921600);
  pinMode(PIN_CS, OUTPUT);
  digitalWrite(PIN_CS, HIGH);
  pinMode(PIN_START, OUTPUT);
  pinMode(PIN_PWDN, OUTPUT);
  pinMode(PIN_RESET, OUTPUT);
  pinMode(PIN_DRDY, INPUT);
  pinMode(PIN_BUTTON, INPUT_PULLUP);
  SPI.begin();
  SPI.usingInterrupt(digitalPinToInterrupt(PIN_DRDY));  // the DRDY handler uses SPI
  SPI.beginTransaction(SPISettings(4000000, MSBFIRST, SPI_MODE1));

  digitalWrite(PIN_START, LOW);
  digitalWrite(PIN_PWDN, HIGH);
  digitalWrite(PIN_RESET, HIGH);
  delay(150);  // power-on reset and oscillator start-up
  ads_command(OP_RESET);
  delay(1);
  ads_command(OP_SDATAC);            // registers can only be written outside RDATAC
  ads_write(REG_CONFIG3, 0xC0);      // internal reference on, VREF = 2.4 V
  delay(150);
  ads_write(REG_CONFIG1, 0x86);      // high-resolution mode, 500 SPS
  ads_write(REG_CONFIG2, 0x00);      // no test signal
  ads_write(REG_LOFF, 0xEF);         // COMP_TH 111 (70 %/30 %), current source, ILEAD_OFF 11 (24 nA), FLEAD_OFF 11 (DC)
  for (uint8_t c = 0; c < N_CHANNELS; ++c) ads_write(REG_CH1SET + c, 0x00);  // gain 6, normal input
  ads_write(REG_LOFF_SENSP, 0xFF);   // lead-off detection on every positive input
  ads_write(REG_LOFF_SENSN, 0xFF);   // and every negative input
  ads_write(REG_CONFIG4, 0x02);      // lead-off comparators on
  ads_command(OP_RDATAC);

  edge_ecg_encoder_init(&encoder);
  send_descriptor(0);
  attachInterrupt(digitalPinToInterrupt(PIN_DRDY), on_drdy, FALLING);
  digitalWrite(PIN_START, HIGH);     // conversions start; DRDY pulses at 500 Hz
}

void loop() {
  static uint8_t last_button = HIGH;
  static uint32_t last_battery_ms = 0;

  int8_t b = ready_block;
  if (b >= 0) {
    ready_block = -1;
    // Copy the block out first: a descriptor write below may block on a full serial buffer
    // (host not reading) for longer than one block, and the DRDY interrupt then refills this
    // very block. Frames are still encoded in the order they are sent (seq must not go back).
    static int32_t samples[SAMPLES_PER_FRAME * N_CHANNELS];
    memcpy(samples, blocks[(uint8_t)b], sizeof samples);
    uint32_t lead_off = block_lead_off[(uint8_t)b];
    uint64_t first = block_first_sample[(uint8_t)b];
    if (frames_sent % DESCRIPTOR_EVERY_FRAMES == 0 && frames_sent != 0) send_descriptor(first);
    size_t n = edge_ecg_encode_data(&encoder, frame, sizeof frame, first, N_CHANNELS,
                                    EDGE_ECG_FORMAT_INT24, SAMPLES_PER_FRAME, samples, lead_off);
    if (n) Serial.write(frame, n);
    ++frames_sent;
    if (frames_sent % HEARTBEAT_EVERY_FRAMES == 0) {
      n = edge_ecg_encode_heartbeat(&encoder, frame, sizeof frame, first + SAMPLES_PER_FRAME, millis());
      if (n) Serial.write(frame, n);
    }
  }

  uint8_t button = (uint8_t)digitalRead(PIN_BUTTON);
  if (button == LOW && last_button == HIGH) {  // pressed: mark the current sample
    size_t n = edge_ecg_encode_event(&encoder, frame, sizeof frame, current_sample(), EDGE_ECG_EVENT_MARKER, 1);
    if (n) Serial.write(frame, n);
  }
  last_button = button;

  if (millis() - last_battery_ms >= 10000UL) {
    last_battery_ms = millis();
    int32_t battery_mv = (int32_t)analogRead(PIN_BATTERY) * 2 * 3300 / 1023;  // 1:2 divider, 3.3 V ADC
    size_t n = edge_ecg_encode_event(&encoder, frame, sizeof frame, current_sample(), EDGE_ECG_EVENT_BATTERY, battery_mv);
    if (n) Serial.write(frame, n);
  }
}
