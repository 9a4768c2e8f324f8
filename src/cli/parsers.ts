import { InvalidArgumentError } from 'commander';

export function positiveInteger(name: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text.trim()) || Number(text) <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive whole number (got ${JSON.stringify(text)})`);
    }
    return Number(text);
  };
}

export function port(name: string) {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || value > 65_535) {
      throw new InvalidArgumentError(
        `${name} must be a port number from 0 to 65535 (got ${JSON.stringify(text)})`,
      );
    }
    return value;
  };
}
