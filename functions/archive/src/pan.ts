// Card ids are tokens. A 13-19 digit string that passes the Luhn check is most likely a real card number
// (PAN): the archive refuses it rather than store cardholder data (PCI DSS scope) by mistake.

/** True when the value, without spaces and dashes, is 13-19 digits with a valid Luhn check digit. */
export function looksLikePan(value: string): boolean {
  const digits = value.replace(/[ -]/g, '');
  if (!/^\d{13,19}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
